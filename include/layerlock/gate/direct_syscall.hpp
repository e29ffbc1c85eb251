// SPDX-License-Identifier: Apache-2.0
// The four system calls of the reader's warm path (read, fstat, write, close),
// issued inline: no libc wrapper, no PLT/GOT, no errno or cancellation state in
// thread-local storage. On this project's VMs a page the reader has not touched
// for a while costs tens of microseconds on its next touch (the hypervisor's
// shadow page tables; docs/benchmarks.md, sixth session), so every page the warm
// path does not touch is one it cannot stall on. Each returns what the kernel
// returns: a result >= 0, or -errno. Elsewhere than x86-64 (x32 too): the libc calls.
#pragma once

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace layerlock::gate::direct {

#if defined(__x86_64__) && !defined(__ILP32__)
inline long syscall3(long n, long a, long b, long c) noexcept {
    long ret;
    asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
inline long read(int fd, void* buf, std::size_t n) noexcept {
    return syscall3(SYS_read, fd, reinterpret_cast<long>(buf), static_cast<long>(n));
}
inline long write(int fd, const void* buf, std::size_t n) noexcept {
    return syscall3(SYS_write, fd, reinterpret_cast<long>(buf), static_cast<long>(n));
}
// x86-64's struct stat is the kernel's.
inline long fstat(int fd, struct stat* st) noexcept { return syscall3(SYS_fstat, fd, reinterpret_cast<long>(st), 0); }
inline long close(int fd) noexcept { return syscall3(SYS_close, fd, 0, 0); }
#else
inline long result(long r) noexcept { return r < 0 ? -errno : r; }
inline long read(int fd, void* buf, std::size_t n) noexcept { return result(::read(fd, buf, n)); }
inline long write(int fd, const void* buf, std::size_t n) noexcept { return result(::write(fd, buf, n)); }
inline long fstat(int fd, struct stat* st) noexcept { return result(::fstat(fd, st)); }
inline long close(int fd) noexcept { return result(::close(fd)); }
#endif

}  // namespace layerlock::gate::direct
