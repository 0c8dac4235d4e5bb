package vrrp

import "github.com/lvskit/lvskit/clock"

// Clock is the time source of an instance and its trackers; tests inject a
// fake one (package clock/clocktest). It is lvskit's one clock interface.
type Clock = clock.Clock

// Timer is the part of *time.Timer an instance uses.
type Timer = clock.Timer
