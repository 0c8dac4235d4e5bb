// Command guestprog is a static program the vmtest tests run in the guest
// through Config.Files and Config.Command. It prints what it sees and
// exits with the status given as its first argument.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	_, err := os.Stat("/proc/net/ip_vs")
	fmt.Printf("guestprog: in-vm=%s uid=%d ipvs=%v args=%q\n", os.Getenv("LVSKIT_IN_VM"), os.Getuid(), err == nil, os.Args[1:])
	code := 0
	if len(os.Args) > 1 {
		code, _ = strconv.Atoi(os.Args[1])
	}
	os.Exit(code)
}
