// Package vmtest runs Go tests inside a real Debian kernel that has IPVS,
// booted under qemu, for the parts of lvskit the development machines'
// own kernel cannot exercise (it is built without CONFIG_IP_VS).
//
// # Two halves of one test
//
// A kernel-tier test has a host half and a guest half in the same
// package. The host half calls Run, which builds the package's test
// binary (CGO_ENABLED=0, so it is static), boots the VM with it, runs the
// tests matching Config.Run as root inside, streams every console line
// into t.Log as it arrives, and fails the host test when the guest tests
// fail, the VM times out, or the guest never reports its exit status.
// The guest half calls RequireGuest first, so on the host it skips:
//
//	func TestKernelIPVS(t *testing.T) { // host
//		vmtest.Run(t, vmtest.Config{Package: "./ipvs", Run: "^TestGuest"})
//	}
//
//	func TestGuestAddService(t *testing.T) { // guest
//		vmtest.RequireGuest(t)
//		// talk to IPVS through netlink; observe with /sbin/ipvsadm -Ln
//	}
//
// Config.Command and Config.Files run any other static program in the
// guest instead, for demos and tools that are not tests; BuildBinary
// builds one from a main package:
//
//	demo := vmtest.BuildBinary(t, "./examples/demo")
//	vmtest.Run(t, vmtest.Config{
//		Files:   map[string]string{"/opt/demo": demo},
//		Command: []string{"/opt/demo", "-flag"},
//	})
//
// go test caches a passing result without knowing the VM ran, so run
// kernel tests with -count=1.
//
// # What the host needs
//
// Root, qemu-system-x86_64, busybox-static, ipvsadm, iproute2 (and
// nftables, optional), all installed by scripts/install-test-deps.sh, and
// apt-get, dpkg, ldd and chroot, which every Debian system has. With xz
// (xz-utils) the harness unpacks Debian's xz-compressed kernel once on the
// host and qemu boots the ELF vmlinux through its PVH entry point, which
// saves the guest about four seconds of decompression per boot; without
// xz it boots the compressed vmlinuz.
// Run skips when one is missing, and fails instead when CI=true. KVM is
// never used: qemu runs in TCG mode, which boots the guest in a few
// seconds here; KVM hangs on these machines.
//
// # The cache
//
// Everything downloaded or built lives under .cache/vmtest at the module
// root (git-ignored). The first run resolves the versioned kernel package
// that linux-image-amd64 depends on with apt-cache (running apt-get update
// if the lists are empty), fetches it with apt-get download and keeps the
// .deb in debs/. It then builds a base initramfs (and vmlinux) once into
// boot-RELEASE-HASH/, where HASH covers the kernel package, this
// package's recipe (init script, module list, recipeVersion) and the
// exact host binaries copied in. Each run only appends a small
// uncompressed cpio archive (the run script, the test binary and
// Config.Files) to a copy of that base; the kernel unpacks concatenated
// archives in order. A file lock (flock on .cache/vmtest/lock) keeps
// concurrent go test processes from building the cache twice. Deleting
// the folder is always safe.
//
// At most one VM per host CPU runs at a time, machine-wide (flocks in
// $TMPDIR/lvskit-vmtest): a TCG guest keeps a CPU busy, and go test runs
// packages in parallel. A VM waiting for its slot says so in the log; its
// Config.Timeout starts once it has one.
//
// # Inside the guest
//
// The guest runs 1 vCPU and 1024 MiB unless Config says otherwise, with
// the environment LVSKIT_IN_VM=1 (what InGuest checks), GOMAXPROCS equal
// to the vCPUs, HOME=/root, TMPDIR=/tmp, CI copied from the host, and
// Config.Env. Tests start in /tmp/work, a writable tmpfs. /proc, /sys,
// devtmpfs on /dev, /dev/pts, tmpfs on /tmp and /run, /var/run -> /run
// and /run/netns exist, so vishvananda/netns named namespaces and
// `ip netns` work; loopback is up. random.trust_cpu=on with qemu's
// "max" CPU (RDRAND) keeps getrandom from blocking.
//
// Loaded at boot, each after its dependencies: crc32c_generic before
// libcrc32c (which otherwise fails with "unknown symbol"), nf_conntrack,
// nf_defrag_ipv4/6, nf_nat, ip_vs and every scheduler the kernel ships
// (rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh, twos if present),
// nf_tables with nft_chain_nat, nft_nat, nft_masq and nft_ct, veth,
// bridge with stp and llc, macvlan, dummy, 8021q, the ipip/gre/fou/ip6
// tunnels used by IPVS tunnelling, and sctp. modules.dep exists, so
// /sbin/modprobe (busybox) loads anything else that was copied in.
//
// Tools, by absolute path: /sbin/ipvsadm, /sbin/ip (full iproute2, with
// `ip netns`), /usr/sbin/nft when the host has nftables, each with its
// shared libraries and the dynamic loader; and busybox applets in /bin.
// Debian's static busybox shell runs its own applets before anything on
// PATH, so in shell snippets call the full tools by absolute path
// (/sbin/ip netns add x: busybox's ip has no netns). From Go,
// exec.Command("ip") finds /sbin/ip because PATH starts with /sbin and
// /bin has no ip applet link. The guest has no network card: tests build
// their own topologies from namespaces, veth and bridges.
//
// When the program ends, the guest prints "LVSKIT-VM-EXIT <nonce>
// <status>" on the console (ttyS0) and powers off; the nonce is fresh per
// run so no program output can fake it.
package vmtest
