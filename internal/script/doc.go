// Package script runs the programs keepalived.conf names — vrrp_script,
// the notify scripts of instances and sync groups, MISC_CHECK,
// quorum_up/quorum_down and notify_up/notify_down — the way keepalived
// runs them, in one place for the vrrp, healthcheck and director
// packages.
//
// # Running
//
// Run starts a program without a shell (the command line was split by the
// configuration parser, with keepalived's quoting rules), in a process
// group of its own, as the user and group it is given (keepalived's
// setgid, setgroups to that one group, setuid). A run that outlives its
// timeout — measured on an injected clock.Clock, so that a fake clock
// decides when it ends — gets SIGTERM on its whole process group, then
// SIGKILL after a grace time (2 s, keepalived's), and the group gets
// SIGKILL once more at the end, so that a child that ignored SIGTERM or
// outlived its parent does not survive the run. The same happens when the
// caller's context ends. Exit status 0 is success; the Result says how the
// program ended otherwise.
//
// # Checking
//
// Check is keepalived's check_script_secure, done when a configuration is
// loaded: a bare program name is looked up on PATH (keepalived warns that
// a full path should be given), symbolic links are resolved as keepalived
// resolves them (the program run is the resolved path, so that a link
// changed later does not change what runs), the file must be executable
// by the user it runs as, and a program that runs with root's user or
// group (or is set-user-ID or set-group-ID root) is unsafe when any
// component of its resolved path is owned by a user other than root, or is
// a file or a directory without the sticky bit that a group other than
// root or everyone may write. With enable_script_security keepalived
// refuses an unsafe script; without, it runs it and says so.
//
// Lookup resolves "USER [GROUP]" as keepalived's script_user does, and
// DefaultUser names keepalived's default script user.
//
// # What it needs
//
// Linux. Running a program as another user needs root (CAP_SETUID,
// CAP_SETGID). Users and groups are read from /etc/passwd and /etc/group
// (os/user without cgo).
package script
