package cqrs

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// RedirectOrigin is the origin (scheme://host[:port]) of an http or https
// redirect URI whose host is a host name (letters, digits and hyphens in
// dot-separated labels) or an IP address and whose port, if any, is a
// number from 1 to 65535; false for anything else, such as a host holding
// ";", "," or a space, which would read as more of a Content-Security-Policy.
func RedirectOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
		if ip.To4() == nil {
			host = "[" + host + "]"
		}
	} else if !hostName(host) {
		return "", false
	}
	origin := u.Scheme + "://" + strings.ToLower(host)
	if port != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", false
		}
		origin += ":" + port
	}
	return origin, true
}

// hostName reports a DNS host name: 1-253 characters in labels of 1-63
// letters, digits and hyphens, none starting or ending with a hyphen.
func hostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
