package healthcheck_test

import (
	"fmt"

	"github.com/lvskit/lvskit/healthcheck"
)

// The digest of an HTTP_GET url is what keepalived's genhash prints for
// the body: 32 lowercase hex digits.
func ExampleDigest() {
	fmt.Println(healthcheck.Digest([]byte("hello\n")))
	// Output: b1946ac92492d2347c6235b4d2611184
}

func ExampleParseStatusCodes() {
	codes, err := healthcheck.ParseStatusCodes("200 201-204")
	fmt.Println(codes, err)
	// Output: [200 201-204] <nil>
}
