// Package e2e holds end-to-end tests of the example programs, run the way
// a user runs them: real binaries in network namespaces, real kernel
// parts, and independent tools (ipvsadm, iproute2) reading the result.
//
// # Kernel tests
//
// The development machines' kernel has no IPVS, so tests that need it have
// two halves (see internal/vmtest): a host half, TestKernel*, builds the
// programs and boots a Debian kernel with IPVS under qemu, and a guest
// half, TestGuest*, runs inside that VM and skips everywhere else.
//
// TestKernelSyncDaemon is the connection sync daemon's failover: two
// directors (examples/director) run one keepalived.conf each with
// lvs_sync_daemon following VRRP instance VI_1, a client holds one TCP
// connection to the VIP that a DR real server echoes, and the MASTER
// machine dies (its director is SIGKILLed and its link set down). The
// test checks that the BACKUP's kernel connection table (`ipvsadm -Lnc`)
// held the connection before the failure, that the BACKUP takes over, and
// that data keeps flowing on the same connection through the new MASTER's
// IPVS without being scheduled again. Its control in the same VM,
// TestGuestNoSyncDaemonResets, runs the same failover without
// lvs_sync_daemon and expects the new MASTER to reset the connection.
// Run them as root with
//
//	go test -count=1 -run TestKernelSyncDaemon -v ./internal/e2e
//
// The package has no non-test code.
package e2e
