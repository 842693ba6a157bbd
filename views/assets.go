package views

import "github.com/cqrs-local/cqrs-signin/assets"

// assetURL is the URL a page loads an embedded asset from: its
// content-hashed name, cached by browsers for a year.
func assetURL(name string) string { return assets.URL(name) }
