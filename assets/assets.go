// Package assets embeds the files the pages load: the project's own CSS and
// JavaScript, and the front-end packages (htmx, nhsuk-frontend) that
// `go tool task deps` copies from node_modules into static/vendor.
package assets

import "embed"

// Static is served under /assets/.
//
//go:embed all:static
var Static embed.FS
