// Package assets embeds the files the pages load: the project's own CSS and
// JavaScript, and the front-end packages (htmx, nhsuk-frontend) that
// `go tool task deps` copies from node_modules into static/vendor. That
// step also names each file by its content's hash and compresses it with
// brotli and gzip (internal/precompress, into built/), so the binary serves
// ready-made bytes and a page can refer to a file under a name that never
// changes its content.
package assets

import (
	"embed"
	"path"
	"strings"
	"sync"
)

// built holds every file of static/ under its hashed name, the .br and
// .gz copies that are smaller, and manifest.txt ("name hashed-name" lines).
//
//go:embed all:built
var built embed.FS

// Asset is one embedded file.
type Asset struct {
	// Name is its path under static/ ("vendor/htmx.min.js"); Hashed the
	// same with its content's hash ("vendor/htmx.min.d6fdc75f204e.js").
	Name, Hashed string
	// Hash is the hash in Hashed, a validator for its content.
	Hash string
	// URL is "/assets/" and Hashed, made once for the pages.
	URL string
	// HasBrotli and HasGzip say whether smaller compressed copies exist.
	HasBrotli, HasGzip bool

	once                 sync.Once
	plain, brotli, gzipd []byte
}

// Encodings a body may have.
const (
	Identity = ""
	Brotli   = "br"
	Gzip     = "gzip"
)

// Body is the asset's bytes in the encoding asked for (Identity when there
// is no copy in it). The bytes are read once and shared: do not modify.
func (a *Asset) Body(encoding string) ([]byte, string) {
	a.once.Do(func() {
		a.plain, _ = built.ReadFile("built/" + a.Hashed)
		if a.HasBrotli {
			a.brotli, _ = built.ReadFile("built/" + a.Hashed + ".br")
		}
		if a.HasGzip {
			a.gzipd, _ = built.ReadFile("built/" + a.Hashed + ".gz")
		}
	})
	switch {
	case encoding == Brotli && a.brotli != nil:
		return a.brotli, Brotli
	case encoding == Gzip && a.gzipd != nil:
		return a.gzipd, Gzip
	}
	return a.plain, Identity
}

// catalogue maps both names of every asset to it.
type catalogue struct {
	byName, byHashed map[string]*Asset
}

var (
	catalogueOnce sync.Once
	assets        catalogue
)

// load reads the manifest on first use (the first page or asset asked for),
// not at start.
func load() *catalogue {
	catalogueOnce.Do(func() {
		assets = catalogue{byName: map[string]*Asset{}, byHashed: map[string]*Asset{}}
		manifest, err := built.ReadFile("built/manifest.txt")
		if err != nil {
			panic("assets: built/manifest.txt is not embedded; run `go tool task deps`")
		}
		for line := range strings.Lines(string(manifest)) {
			name, hashed, ok := strings.Cut(strings.TrimSpace(line), " ")
			if !ok {
				continue
			}
			base := strings.TrimSuffix(hashed, path.Ext(hashed))
			a := &Asset{Name: name, Hashed: hashed, Hash: base[strings.LastIndexByte(base, '.')+1:], URL: "/assets/" + hashed}
			_, errBr := built.Open("built/" + hashed + ".br")
			_, errGz := built.Open("built/" + hashed + ".gz")
			a.HasBrotli, a.HasGzip = errBr == nil, errGz == nil
			assets.byName[name] = a
			assets.byHashed[hashed] = a
		}
	})
	return &assets
}

// URL is where a page finds the asset name ("css/app.css"): its hashed
// name under /assets/, which a browser may keep for a year. An unknown
// name keeps its plain path (and is not found).
func URL(name string) string {
	if a := load().byName[name]; a != nil {
		return a.URL
	}
	return "/assets/" + name
}

// Lookup finds an asset by its plain or hashed name (the path under
// /assets/); hashed is true for the hashed one.
func Lookup(name string) (a *Asset, hashed bool) {
	c := load()
	if a := c.byHashed[name]; a != nil {
		return a, true
	}
	return c.byName[name], false
}
