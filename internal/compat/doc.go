// Package compat compares the lvskit director with keepalived 2.2.7 on
// the same configuration files: the fidelity suite of issue 17, and
// `make compat`'s table.
//
// # What is compared
//
// Each case is one keepalived.conf: a file per keepalived behaviour the
// director must follow (testdata/cases/*.conf: the cases of issue 17 and
// keepalived's other corrections), a file per keyword family (global_defs,
// vrrp_instance, vrrp_sync_group, vrrp_script, virtual_server and its
// group, real_server, each checker), and every sample keepalived ships
// (Debian's /usr/share/doc/keepalived/samples, gzipped ones unpacked).
// For each, in a network namespace of its own that holds every interface
// the file names (as ifb links, up, with multicast and ARP: this kernel
// has no dummy links):
//
//   - keepalived -t checks the file: its exit code and its messages,
//     "(file: Line N) message" or without a line;
//   - keepalived runs its VRRP process on the file with --dump-conf for as
//     long as it takes to dump what it runs (its VRRP topology and global
//     definitions), then stops; a VRRP process that exits on the file
//     ("exited with permanent error CONFIG") means keepalived stops on it;
//   - the director loads the file as director -t does (director.Load).
//
// A Row then says, for the case: each side's verdict (runs, runs with
// warnings, refused); whether the effective VRRP values are equal (VRID,
// priority, advert interval, initial state, preemption, authentication
// and password, VIPs, unicast source and peers, version, sync group;
// router_id and the GARP/NA intervals of global_defs), or n/a where
// keepalived dumps none (a file without vrrp_instance: the virtual
// servers are compared in the VM, below); and how many of keepalived's corrections the director warns
// about too: a message with a line needs a director diagnostic on that
// line, one without a line (keepalived's checks after reading, "Virtual
// server ...: no scheduler set", "Sync group ... has only 1 virtual
// router(s)") a director warning of the same kind (corrections.go).
// Messages about the test machine rather than the file (a missing
// keepalived_script user, ifb links) are left out.
//
// Run needs root (namespaces) and keepalived; `make compat` prints the
// table (cmd/compat), and TestIntegrationCompat asserts it, with every
// remaining difference named in Differences.
//
// # Virtual servers, in the VM
//
// keepalived's checker process needs IPVS, which this machine's kernel
// lacks, so the virtual servers are compared in the kernel tier:
// TestKernelCompatLVS takes keepalived (with its libraries,
// vmtest.ProgramFiles) and the samples into the qemu VM, where
// TestGuestCompatLVS runs its checker process on every file that has a
// virtual_server and compares its --dump-conf with the director's plan
// (lvs.go): per virtual server protocol, scheduler, quorum and
// hysteresis; per real server weight and forwarding method; per checker
// retries, delay before retry, delay loop, warmup and connect timeout as
// each side runs them (healthcheck.Policy.Effective). Differences there
// are named in LVSDifferences.
package compat
