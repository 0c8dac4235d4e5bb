package vrrp

import "syscall"

const syscallNonblock = syscall.O_NONBLOCK
