// Command precompress prepares the embedded assets for the wire: for each
// file under assets/static it writes, under assets/built, a copy named by
// its content's hash ("vendor/htmx.min.js" → "vendor/htmx.min.3f9a….js"),
// brotli- and gzip-compressed copies of it (".br", ".gz") where that makes
// it smaller, and a manifest of the names. `go tool task deps` runs it
// after copying the npm packages' files into assets/static; its output is
// not committed.
//
//	go run ./assets/internal/precompress [-in assets/static] [-out assets/built]
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/andybalholm/brotli"
)

// compressible are the file types that shrink when compressed (images in
// PNG and the like are compressed already).
var compressible = map[string]bool{".css": true, ".js": true, ".svg": true, ".ico": true, ".json": true, ".txt": true, ".map": true, ".html": true}

func main() {
	in := flag.String("in", filepath.Join("assets", "static"), "the assets")
	out := flag.String("out", filepath.Join("assets", "built"), "where to write the hashed and compressed copies")
	flag.Parse()
	if err := build(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "precompress:", err)
		os.Exit(1)
	}
}

func build(in, out string) error {
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	var manifest []string
	var plain, brotlied, gzipped int
	err := fs.WalkDir(os.DirFS(in), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(filepath.Join(in, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		hashed := HashedName(name, data)
		manifest = append(manifest, name+" "+hashed)
		if err := write(out, hashed, data); err != nil {
			return err
		}
		plain += len(data)
		if !compressible[strings.ToLower(path.Ext(name))] {
			return nil
		}
		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
		bw.Write(data)
		if err := bw.Close(); err != nil {
			return err
		}
		var gz bytes.Buffer
		gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		gw.Write(data)
		if err := gw.Close(); err != nil {
			return err
		}
		// A compressed copy is kept only if it saves at least a tenth.
		for _, v := range []struct {
			ext  string
			body []byte
			n    *int
		}{{".br", br.Bytes(), &brotlied}, {".gz", gz.Bytes(), &gzipped}} {
			if len(v.body) <= len(data)*9/10 {
				if err := write(out, hashed+v.ext, v.body); err != nil {
					return err
				}
				*v.n += len(v.body)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(manifest)
	if err := write(out, "manifest.txt", []byte(strings.Join(manifest, "\n")+"\n")); err != nil {
		return err
	}
	fmt.Printf("precompress: %d files, %d bytes; brotli copies %d bytes, gzip copies %d bytes\n", len(manifest), plain, brotlied, gzipped)
	return nil
}

func write(dir, name string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// HashedName puts the first 12 hex digits of the content's SHA-256 before
// the extension.
func HashedName(name string, data []byte) string {
	sum := sha256.Sum256(data)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
}
