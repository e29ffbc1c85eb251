// SPDX-License-Identifier: Apache-2.0
// Streaming SHA-256 of an open fd with OpenSSL's EVP interface. This file owns the
// only use of libcrypto's digest API; it does not open, stat or classify files
// (callers decide what is safe to read). Reads use pread from offset 0 in 1 MiB
// chunks through a per-thread buffer, so the caller's offset is untouched, and the
// limits (size, deadline, cancel flag) are checked between chunks.
#include "layerlock/digest/sha256.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>
#include <vector>

namespace layerlock::digest {
namespace {

// 256 KiB: large enough to amortise the syscall, small enough that the copy
// stays in L2 while it is hashed.
constexpr std::size_t kChunk = std::size_t{256} << 10;

struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_MD_CTX, CtxDeleter>;

struct MdDeleter {
    void operator()(EVP_MD* m) const noexcept { EVP_MD_free(m); }
};

// Fetched once: EVP_sha256() would repeat the provider look-up at every init.
const EVP_MD* sha256_md() {
    static const std::unique_ptr<EVP_MD, MdDeleter> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    return md ? md.get() : EVP_sha256();
}

// One reusable context and read buffer per thread: hashing many small files
// allocates nothing after the first.
struct ThreadState {
    CtxPtr ctx{EVP_MD_CTX_new()};
    std::vector<unsigned char> buf = std::vector<unsigned char>(kChunk);
};
ThreadState& thread_state() {
    thread_local ThreadState state;
    return state;
}

base::Unexpected<base::Error> fail(int err, const char* what) {
    return base::unexpected(base::Error::from_errno(what, err));
}

// Why hashing must stop before the next chunk, or 0.
int limit_reached(const HashLimits& limits, std::uint64_t done) {
    if (done > limits.max_bytes) return EFBIG;
    if (limits.cancel && limits.cancel->load(std::memory_order_relaxed)) return ECANCELED;
    if (limits.deadline != std::chrono::steady_clock::time_point::max() &&
        std::chrono::steady_clock::now() >= limits.deadline)
        return ETIMEDOUT;
    return 0;
}

ssize_t pread_full(int fd, unsigned char* buf, std::size_t len, std::uint64_t off) {
    ssize_t n;
    do {
        n = ::pread(fd, buf, len, static_cast<off_t>(off));
    } while (n < 0 && errno == EINTR);
    return n;
}

}  // namespace

base::Result<model::Sha256> sha256_fd(int fd, const HashLimits& limits, std::uint64_t* bytes) {
    ThreadState& st = thread_state();
    if (!st.ctx) return fail(ENOMEM, "EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(st.ctx.get(), sha256_md(), nullptr) != 1) return fail(EIO, "EVP_DigestInit_ex");
    std::uint64_t done = 0;
    for (;;) {
        if (int err = limit_reached(limits, done)) return fail(err, "sha256");
        // Never read more than one byte past max_bytes: enough to know it is too big.
        std::uint64_t room = limits.max_bytes - done;
        std::size_t want = room < st.buf.size() ? static_cast<std::size_t>(room) + 1 : st.buf.size();
        ssize_t n = pread_full(fd, st.buf.data(), want, done);
        if (n < 0) return fail(errno, "pread");
        if (n == 0) break;
        if (EVP_DigestUpdate(st.ctx.get(), st.buf.data(), static_cast<std::size_t>(n)) != 1)
            return fail(EIO, "EVP_DigestUpdate");
        done += static_cast<std::uint64_t>(n);
        if (limits.short_read_is_end && static_cast<std::size_t>(n) < want) break;
    }
    if (done > limits.max_bytes) return fail(EFBIG, "sha256");
    model::Sha256 out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(st.ctx.get(), out.data(), &len) != 1 || len != out.size())
        return fail(EIO, "EVP_DigestFinal_ex");
    if (bytes) *bytes = done;
    return out;
}

model::Sha256 sha256_bytes(const void* data, std::size_t size) {
    model::Sha256 out{};
    unsigned int len = 0;
    // EVP_Digest cannot fail for SHA-256 on valid input short of allocation failure;
    // on failure the all-zero digest is returned, which matches no real content.
    if (EVP_Digest(data, size, out.data(), &len, sha256_md(), nullptr) != 1) out.fill(0);
    return out;
}

void prepare_thread() {
    ThreadState& st = thread_state();
    std::fill(st.buf.begin(), st.buf.end(), 0);   // fault the pages in now, not during an exec
    if (st.ctx) (void)EVP_DigestInit_ex(st.ctx.get(), sha256_md(), nullptr);
}

struct Sha256Stream::Ctx {
    CtxPtr ctx{EVP_MD_CTX_new()};
};

Sha256Stream::Sha256Stream() : ctx_(std::make_unique<Ctx>()) {
    if (!ctx_->ctx || EVP_DigestInit_ex(ctx_->ctx.get(), sha256_md(), nullptr) != 1) throw std::bad_alloc();
}
Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;

void Sha256Stream::update(const void* data, std::size_t size) {
    if (size == 0) return;
    EVP_DigestUpdate(ctx_->ctx.get(), data, size);
    bytes_ += size;
}

model::Sha256 Sha256Stream::final() {
    model::Sha256 out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_->ctx.get(), out.data(), &len);
    EVP_DigestInit_ex(ctx_->ctx.get(), sha256_md(), nullptr);
    bytes_ = 0;
    return out;
}

}  // namespace layerlock::digest
