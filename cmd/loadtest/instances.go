package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sharedInstances measures several instances on one PostgreSQL database,
// in the same run as the one-instance figures: the first instance is the
// one already measured; the others start on the same database (the
// CQRS_DATABASE given through -app-env) and the clients are spread over
// all of them, each client keeping to one instance as behind a load
// balancer with sticky connections.
func sharedInstances(cfg config, bin, data string, extra []string, first *server, accounts []string, msgClient *http.Client, ceiling, oneSignIns, oneMessages float64) error {
	if !usesDatabase() {
		return errors.New("-instances needs -app-env CQRS_DATABASE=postgres://…: instances share a database, not a file")
	}
	servers := []*server{first}
	for range cfg.instances - 1 {
		s, err := startApp(bin, data, "", extra)
		if err != nil {
			return fmt.Errorf("another instance: %w", err)
		}
		defer s.stop()
		servers = append(servers, s)
	}
	fmt.Printf("\n%d instances on one PostgreSQL database (clients spread over them):\n", len(servers))

	// Sign-ins: each instance gets its own anonymous CSRF cookie and the
	// requests for every account; worker w stays on instance w mod n.
	c := loadClient(cfg.clients)
	perInstance := make([][]fixedRequest, len(servers))
	for i, s := range servers {
		csrf, token, err := anonymous(s.base)
		if err != nil {
			return fmt.Errorf("instance %d: %w", i+1, err)
		}
		for _, id := range accounts {
			password := adminPassword
			if id != adminID {
				password = accountPassword
			}
			perInstance[i] = append(perInstance[i], signInRequest(s.base, csrf, token, id, password))
		}
	}
	si := drive("sign-in", cfg.clients, cfg.signIns, 30*time.Second, func(w, _ int) (int, error) {
		reqs := perInstance[w%len(servers)]
		return send(c, reqs[(w/len(servers))%len(reqs)].request())
	}, func(code int) bool { return code == http.StatusSeeOther })
	fmt.Printf("  legacy sign-ins: %.1f sign-ins/s = %.2f of the ceiling (one instance: %.2f); %s\n",
		si.rate(), si.rate()/ceiling, oneSignIns/ceiling, si.statuses())
	fmt.Printf("  latency %s; %s\n", si.lat, si.cpu())

	// The message centre: one session, made on the first instance, used on
	// every instance (sessions are shared).
	pages := make([]fixedRequest, len(servers))
	firstURL, err := url.Parse(first.base + "/messages")
	if err != nil {
		return err
	}
	for i, s := range servers {
		pages[i] = getRequest(s.base+"/messages", msgClient.Jar.Cookies(firstURL))
	}
	mc := drive("message centre", cfg.clients, cfg.maxRequests, cfg.duration, func(w, _ int) (int, error) {
		return send(c, pages[w%len(servers)].request())
	}, func(code int) bool { return code == http.StatusOK })
	fmt.Printf("  message centre: %.0f req/s (one instance: %.0f req/s); %s; %s\n", mc.rate(), oneMessages, mc.lat, mc.statuses())
	for i, s := range servers {
		fmt.Printf("  instance %d peak RSS: %s\n", i+1, procMem(s.cmd.Process.Pid, "VmHWM"))
	}
	return nil
}

// usesDatabase reports whether the app is given a database address.
func usesDatabase() bool {
	for _, kv := range appEnv {
		if strings.HasPrefix(kv, "CQRS_DATABASE=") && len(kv) > len("CQRS_DATABASE=") {
			return true
		}
	}
	return false
}
