// Package e2e tests the app as people use it: the real binary, built once
// per test run from the repository root and started with flags and
// environment, driven over HTTP and through a real Chromium (chromedp).
//
// It holds the journeys of the design, the accessibility checks, the
// process-level tests (flags, single instance, signals, the locked data
// file, backup while running, the network modes), two instances on one
// PostgreSQL database, and the check that the README's promises exist.
// The package has no code of its own outside its tests.
//
// Run it with `go test ./e2e` (several minutes); `go test ./e2e
// -screenshots` also rewrites the README's screenshots in ../screenshots.
package e2e
