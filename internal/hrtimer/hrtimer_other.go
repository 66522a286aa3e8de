//go:build !linux

package hrtimer

import "time"

// Timer sleeps on the runtime's timer alone where there is no timerfd.
type Timer struct{}

// New returns a Timer.
func New() (*Timer, error) { return &Timer{}, nil }

// Close does nothing.
func (t *Timer) Close() error { return nil }

func (t *Timer) kick(time.Time) {}
