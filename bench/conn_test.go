package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqtool/mqtool/client"
)

func TestRunConn(t *testing.T) {
	url, _ := startMosquitto(t)
	tests := []struct {
		name    string
		clients int
		rate    float64
	}{
		{"parallel", 40, 0},
		{"paced", 10, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := RunConn(context.Background(), ConnConfig{Client: client.Options{URL: url}, Clients: tt.clients, ConnectRate: tt.rate})
			if err != nil {
				t.Fatalf("RunConn = %v", err)
			}
			if res.Connected != tt.clients || res.Failed != 0 || res.Connack.Count != int64(tt.clients) || res.Connack.P50 <= 0 {
				t.Errorf("RunConn(%d clients) = %+v", tt.clients, res)
			}
			if tt.rate > 0 {
				// 10 connections at 200/s take at least 9 intervals of 5ms.
				if min := time.Duration(float64(tt.clients-1)/tt.rate*float64(time.Second)) - time.Millisecond; res.Seconds < min.Seconds() {
					t.Errorf("%d connections at %v/s took %.3fs, want at least %v", tt.clients, tt.rate, res.Seconds, min)
				}
			}
		})
	}
}

func TestRunConnErrors(t *testing.T) {
	closed := fmt.Sprintf("mqtt://127.0.0.1:%d", freePort(t))
	res, err := RunConn(context.Background(), ConnConfig{Client: client.Options{URL: closed, ConnectTimeout: time.Second}, Clients: 3})
	if err != nil {
		t.Fatalf("RunConn against a closed port = %v, want the failures counted", err)
	}
	if res.Failed != 3 || res.Connected != 0 || res.FirstError == "" {
		t.Errorf("RunConn against a closed port = %+v, want 3 failed", res)
	}
	for _, tt := range []struct {
		cfg  ConnConfig
		want string
	}{
		{ConnConfig{Clients: 0}, "--clients"},
		{ConnConfig{Clients: 1, ConnectRate: -1}, "--connect-rate"},
		{ConnConfig{Clients: 50, Client: client.Options{URL: "mqtt://192.0.2.1"}}, "at most 10"},
	} {
		if _, err := RunConn(context.Background(), tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RunConn(%+v) = %v, want error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestRunConnHold(t *testing.T) {
	tests := []struct {
		name        string
		hold        time.Duration
		stopBroker  bool // during the hold
		wantDropped int
	}{
		{"held", 100 * time.Millisecond, false, 0},
		{"broker stops during the hold", time.Second, true, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, stop := startBroker(t)
			holding := -1
			res, err := RunConn(context.Background(), ConnConfig{Client: client.Options{URL: url}, Clients: 5, Hold: tt.hold,
				Holding: func(n int) {
					holding = n
					if tt.stopBroker {
						stop()
					}
				}})
			if err != nil {
				t.Fatalf("RunConn = %v", err)
			}
			if holding != 5 {
				t.Errorf("Holding called with %d, want 5", holding)
			}
			if res.Held < tt.hold.Seconds() {
				t.Errorf("Held = %vs, want at least %v", res.Held, tt.hold)
			}
			if res.Dropped != tt.wantDropped || (tt.wantDropped > 0) != (res.FirstError != "") {
				t.Errorf("Dropped = %d (first error %q), want %d", res.Dropped, res.FirstError, tt.wantDropped)
			}
		})
	}
}

func TestRunConnHoldInterrupted(t *testing.T) {
	url, _ := startBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := RunConn(ctx, ConnConfig{Client: client.Options{URL: url}, Clients: 3, Hold: time.Minute,
		Holding: func(int) { cancel() }})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("RunConn cancelled during the hold = %v, want an interrupted error", err)
	}
	if res == nil || res.Connected != 3 || res.Held >= 60 {
		t.Errorf("RunConn cancelled during the hold = %+v, want 3 connected and the hold cut short", res)
	}
}
