package views

import (
	"net/url"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

// plural is "1 message" or "3 messages".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// pageAddress is a form's page as a GET (path, with next unless it is the
// default landing), for the history entry of a refused answer: app.js
// puts it in place of the POST, so Back to the refusal or a refresh opens
// the page again instead of asking to send the form again.
func pageAddress(path, next string) string {
	if next == "/messages" || next == "" {
		return path
	}
	return path + "?next=" + url.QueryEscape(next)
}
