package director

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: Run returns only after what it
// started has stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
