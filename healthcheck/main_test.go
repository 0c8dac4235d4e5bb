package healthcheck_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every monitor, pool, probe and test server must be gone when the tests
// end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
