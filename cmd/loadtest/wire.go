package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// wireLoad is one page load as the browser's network log shows it.
type wireLoad struct {
	requests  int
	fromCache int
	bytes     int64 // on the wire: headers and (compressed) bodies
	lines     []string
}

// findChromium is $CHROMIUM_PATH, or the first Chromium or Chrome on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p, nil
	}
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (set CHROMIUM_PATH)")
}

// measureWire loads the Login page twice in Chromium (headless, a fresh
// profile) and reports what each load fetched on the wire: every request
// the page makes, with its encoded length (headers and body as sent).
// The second load is a normal navigation, as a user returning later would
// make, so cached assets are not asked for again.
func measureWire(cfg config) error {
	srv, chromium, dir, stop, err := setUpForBrowser(cfg, "cqrs-wire-")
	if err != nil {
		return err
	}
	defer stop()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var current *wireLoad
	urls := map[network.RequestID]string{}
	cached := map[network.RequestID]bool{}
	encodings := map[network.RequestID]string{}
	listenErr := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		if current == nil {
			return
		}
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
			current.requests++
		case *network.EventRequestServedFromCache:
			cached[e.RequestID] = true
		case *network.EventResponseReceived:
			if e.Response.FromDiskCache || e.Response.FromPrefetchCache {
				cached[e.RequestID] = true
			}
			encodings[e.RequestID] = fmt.Sprint(e.Response.Headers["Content-Encoding"], e.Response.Headers["content-encoding"])
		case *network.EventLoadingFinished:
			u := strings.TrimPrefix(urls[e.RequestID], srv.base)
			if cached[e.RequestID] {
				current.fromCache++
				current.lines = append(current.lines, fmt.Sprintf("    %-58s from the cache", u))
				return
			}
			current.bytes += int64(e.EncodedDataLength)
			enc := strings.Trim(strings.ReplaceAll(encodings[e.RequestID], "<nil>", ""), " ")
			current.lines = append(current.lines, fmt.Sprintf("    %-58s %7.0f bytes %s", u, e.EncodedDataLength, enc))
		}
	})
	if listenErr != nil {
		return listenErr
	}
	load := func() (*wireLoad, error) {
		mu.Lock()
		current = &wireLoad{}
		mu.Unlock()
		err := chromedp.Do(ctx, chromedp.Navigate(srv.base+"/login"), chromedp.WaitReady("body"))
		time.Sleep(500 * time.Millisecond) // late requests (the icon)
		mu.Lock()
		defer mu.Unlock()
		l := current
		current = nil
		sort.Strings(l.lines)
		return l, err
	}
	fmt.Printf("Login page on the wire, Chromium (%s), %s\n", chromium, time.Now().Format(time.RFC3339))
	for i, what := range []string{"first load (empty cache)", "second load (same browser, a normal visit)"} {
		l, err := load()
		if err != nil {
			return err
		}
		fmt.Printf("  %s: %d requests, %d from the cache, %.1f KB on the wire (%d bytes)\n", what, l.requests, l.fromCache, float64(l.bytes)/1000, l.bytes)
		for _, line := range l.lines {
			fmt.Println(line)
		}
		if i == 1 && l.requests-l.fromCache > 1 {
			problems = append(problems, fmt.Sprintf("the second load fetched %d requests from the server, want the page alone", l.requests-l.fromCache))
		}
		if i == 0 {
			time.Sleep(time.Second)
		}
	}
	return nil
}

// setUpForBrowser starts the app on a database of its own in a new
// directory (prefix names it), set up with its system administrator, and
// finds the machine's Chromium, for the measures a real browser takes;
// stop ends the app and removes the directory.
func setUpForBrowser(cfg config, prefix string) (srv *server, chromium, dir string, stop func(), err error) {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return nil, "", "", nil, err
	}
	if chromium, err = findChromium(); err != nil {
		return nil, "", "", nil, err
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, "", "", nil, err
	}
	if srv, err = startApp(bin, filepath.Join(dir, "cqrs.db"), "", appFlags(bin)); err != nil {
		os.RemoveAll(dir)
		return nil, "", "", nil, err
	}
	stop = func() { srv.stop(); os.RemoveAll(dir) }
	if err := setUp(srv); err != nil {
		stop()
		return nil, "", "", nil, err
	}
	return srv, chromium, dir, stop, nil
}
