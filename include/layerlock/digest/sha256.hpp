// SPDX-License-Identifier: Apache-2.0
// Streaming SHA-256 of an open file descriptor (OpenSSL EVP stays in src/digest).
// Reads with pread from offset 0, so the caller's file offset is untouched and
// the fd may be a permission event's fd shared with nobody else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "layerlock/base/result.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::digest {

struct HashLimits {
    std::uint64_t max_bytes = UINT64_MAX;           // fail (EFBIG) past this many bytes
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    const std::atomic<bool>* cancel = nullptr;      // stop early (ECANCELED) when set
    // A read returning fewer bytes than asked ends the hash instead of one more read
    // that returns 0. Only for callers that compare size and times before and after
    // (a file that grew in between is then seen by them): saves a syscall per file.
    bool short_read_is_end = false;
};

// Hash of the whole content of `fd` (a regular file). ETIMEDOUT past the
// deadline. The number of bytes hashed is stored in *bytes when non-null.
base::Result<model::Sha256> sha256_fd(int fd, const HashLimits& limits = {},
                                      std::uint64_t* bytes = nullptr);

model::Sha256 sha256_bytes(const void* data, std::size_t size);

// SHA-256 of a stream fed piece by piece (an archive's entries as they are read).
class Sha256Stream {
public:
    Sha256Stream();
    ~Sha256Stream();
    Sha256Stream(Sha256Stream&&) noexcept;
    Sha256Stream& operator=(Sha256Stream&&) noexcept;
    void update(const void* data, std::size_t size);
    model::Sha256 final();   // then starts over
    std::uint64_t bytes() const { return bytes_; }

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    std::uint64_t bytes_ = 0;
};

// Allocates and touches this thread's hashing state (buffer, EVP context) so the
// first hash on a gate worker does not pay for page faults and provider lookups.
void prepare_thread();

}  // namespace layerlock::digest
