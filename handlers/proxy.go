package handlers

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Behind a load balancer every connection comes from the proxy: the
// person's address is in the headers it adds. Those headers are believed
// only from the proxies the site names (--trusted-proxies); from anyone
// else they are whatever the sender chose to write, and are ignored.

// trustedProxy reports whether addr is one of the site's proxies.
func (a *app) trustedProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// fromProxy replaces a trusted proxy's address with the person's, before
// anything reads it: the rate limits, the lockout and the audit log all
// use c.IP().
func (a *app) fromProxy(c *fiber.Ctx) error {
	if len(a.cfg.TrustedProxies) == 0 {
		return c.Next()
	}
	// fasthttp keeps a set address for the connection's life: the proxy's
	// next request on it is another person's, so start from the peer.
	c.Context().SetRemoteAddr(nil)
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok || !a.trustedProxy(peer) {
		return c.Next()
	}
	if client, ok := a.forwardedClient(&c.Request().Header); ok {
		c.Context().SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice()})
	}
	return c.Next()
}

var (
	forwardedHeader    = []byte(fiber.HeaderForwarded)
	forwardedForHeader = []byte(fiber.HeaderXForwardedFor)
)

// forwardedClient is the nearest address in the forwarding chain that is
// not one of the site's proxies. The chain is read from the right: each
// proxy appends the address it was reached from, so entries to the left of
// the first untrusted one were written by the client and prove nothing.
// X-Forwarded-For, which load balancers write (HAProxy's option forwardfor),
// wins over Forwarded (RFC 7239): otherwise a Forwarded header a person
// wrote would pass through such a proxy untouched and be believed.
// Forwarded is read only when the proxy sent no X-Forwarded-For.
func (a *app) forwardedClient(h *fasthttp.RequestHeader) (netip.Addr, bool) {
	var forwarded, xff []string
	h.VisitAll(func(k, v []byte) {
		switch {
		case bytes.EqualFold(k, forwardedHeader):
			for _, element := range strings.Split(string(v), ",") {
				forwarded = append(forwarded, forwardedFor(element))
			}
		case bytes.EqualFold(k, forwardedForHeader):
			xff = append(xff, strings.Split(string(v), ",")...)
		}
	})
	chain := xff
	if len(chain) == 0 {
		chain = forwarded
	}
	for i := len(chain) - 1; i >= 0; i-- {
		addr, ok := parseForwardedAddr(chain[i])
		if !ok {
			return netip.Addr{}, false // a chain we cannot read is not believed
		}
		if i == 0 || !a.trustedProxy(addr) {
			return addr, true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor is the for= parameter of one Forwarded element.
func forwardedFor(element string) string {
	for _, pair := range strings.Split(element, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
		if strings.EqualFold(k, "for") {
			return v
		}
	}
	return ""
}

// parseForwardedAddr reads 192.0.2.1, 2001:db8::1, and Forwarded's quoted
// "[2001:db8::1]:4711" and "192.0.2.1:4711".
func parseForwardedAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	addr, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}
