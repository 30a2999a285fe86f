// Command groupapi-sim serves the DeepCall Group API simulator
// (internal/groupapi/sim) on a local address, for the demo, e2e tests,
// benchmarks and manual experiments. See docs/groupapi-sim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var (
		users, ssids, denied repeated
		f                    sim.Faults
	)
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Var(&users, "user", "a user and its token, ID:TOKEN (repeatable)")
	flag.Var(&ssids, "ssid", "a session id and the user it authenticates, SSID:USERID (repeatable)")
	flag.Var(&denied, "deny-agent-to-agent", "a user without the AGENT_TO_AGENT_CALL permission (repeatable)")
	agents := flag.String("agents", "1000-9999", "agent ids every user has, FROM-TO")
	flag.DurationVar(&f.Latency, "latency", 0, "added to every API request")
	flag.DurationVar(&f.LatencyJitter, "latency-jitter", 0, "latency varies by up to ± this")
	flag.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction of requests answered HTTP 500 with code 1009")
	flag.Float64Var(&f.LostResponseRate, "lost-response-rate", 0, "fraction of requests carried out, then answered by a dropped connection")
	flag.Float64Var(&f.ThrottleRate, "throttle-rate", 0, "fraction of requests answered 429 with Retry-After")
	flag.DurationVar(&f.RetryAfter, "retry-after", time.Second, "the Retry-After of throttled answers")
	flag.DurationVar(&f.ReadLag, "read-lag", 0, "list and getGroupAgentRelation do not see a group until it is this old (read-after-write lag)")
	userRate := flag.Float64("user-rate-limit", 0, "requests per second the service allows each user (0: no limit); over it, 429 with Retry-After: 1")
	userBurst := flag.Int("user-burst", 10, "burst allowed above --user-rate-limit")
	errorStatus := flag.Bool("error-http-status", false, "answer errors with 4xx/5xx instead of HTTP 200")
	statePath := flag.String("state", "", "file to load the groups from at start and save them to on change")
	quiet := flag.Bool("quiet", false, "no line per request")
	flag.Parse()

	logger := log.New(os.Stderr, "groupapi-sim ", log.LstdFlags|log.Lmicroseconds)
	opts := sim.Options{ErrorHTTPStatus: *errorStatus, Faults: f, UserRateLimit: *userRate, UserBurst: *userBurst}
	if !*quiet {
		opts.Logf = func(format string, args ...any) { logger.Printf(format, args...) }
	}
	s := sim.New(opts)
	agentIDs, err := sim.ParseAgentRange(*agents)
	if err != nil {
		logger.Fatal(err)
	}
	byID := map[string]*sim.User{}
	for _, u := range users {
		id, token, ok := strings.Cut(u, ":")
		if !ok || id == "" || token == "" {
			logger.Fatal("a --user value is malformed: want ID:TOKEN (value not shown: it holds a credential)")
		}
		byID[id] = &sim.User{ID: id, Token: token}
	}
	for _, p := range ssids {
		ssid, id, ok := strings.Cut(p, ":")
		if !ok || ssid == "" || id == "" {
			logger.Fatal("a --ssid value is malformed: want SSID:USERID (value not shown: it holds a credential)")
		}
		if byID[id] == nil {
			byID[id] = &sim.User{ID: id}
		}
		byID[id].SSIDs = append(byID[id].SSIDs, ssid)
	}
	if len(byID) == 0 {
		logger.Fatal("no users: give --user ID:TOKEN or --ssid SSID:USERID")
	}
	for _, id := range denied {
		if byID[id] == nil {
			logger.Fatalf("--deny-agent-to-agent %q: no such user", id)
		}
		byID[id].DenyAgentToAgentCall = true
	}
	for _, u := range byID {
		u.Agents = agentIDs
		s.AddUser(*u)
	}

	if *statePath != "" {
		if err := load(s, *statePath); err != nil {
			logger.Fatal(err)
		}
		saves := make(chan struct{}, 1)
		s.OnChange(func() {
			select {
			case saves <- struct{}{}:
			default:
			}
		})
		var mu sync.Mutex
		save := func() {
			mu.Lock()
			defer mu.Unlock()
			if err := saveTo(s, *statePath); err != nil {
				logger.Printf("save state: %v", err)
			}
		}
		go func() {
			for range saves {
				save()
				time.Sleep(200 * time.Millisecond) // coalesce bursts
			}
		}()
		defer save()
	}

	srv := &http.Server{Addr: *listen, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Printf("serving the Group API on http://%s/api/v2/Group/ for %d users (admin API under /_sim/)", *listen, len(byID))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Fatal(err)
	}
}

func load(s *sim.Server, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return s.Load(f)
}

func saveTo(s *sim.Server, path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := s.Save(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
