package healthcheck

import "github.com/lvskit/lvskit/clock"

// Clock is the time source of a Monitor and a Pool. Tests inject a fake one
// (package clock/clocktest) to pin the time of every probe. It is lvskit's
// one clock interface.
type Clock = clock.Clock

// Timer is the part of *time.Timer a Monitor uses.
type Timer = clock.Timer
