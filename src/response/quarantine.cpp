// SPDX-License-Identifier: Apache-2.0
#include "layerlock/response/quarantine.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/fs.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::response {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using base::Error;
using base::unexpected;

base::Result<void> copy_fd(int from, int to, std::uint64_t size) {
    char buf[1 << 16];
    for (std::uint64_t off = 0; off < size;) {
        ssize_t n = ::pread(from, buf, std::min<std::uint64_t>(sizeof buf, size - off), static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return unexpected(Error::from_errno("read sample"));
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(to, buf + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return unexpected(Error::from_errno("write sample"));
            done += w;
        }
        off += static_cast<std::uint64_t>(n);
    }
    return {};
}

bool is_sha256(const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

base::Result<std::string> Quarantine::keep(int fd, const model::DriftEvent& ev) {
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return unexpected(Error::invalid("sample is not a regular file"));
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > max_bytes_) return unexpected(Error::invalid("sample larger than the quarantine's bound"));
    auto digest = digest::sha256_fd(fd);
    if (!digest) return unexpected(Error::plain("hash sample: " + digest.error().message()));
    const auto hex = model::to_hex(*digest);
    ::mkdir(dir_.c_str(), 0700);
    if (::access(path_of(hex).c_str(), F_OK) == 0) return hex;   // already kept
    evict(size);
    const std::string tmp = path_of(hex) + ".tmp";
    base::UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return unexpected(Error::from_errno("create " + tmp));
    if (auto r = copy_fd(fd, out.get(), size); !r) {
        ::unlink(tmp.c_str());
        return unexpected(r.error());
    }
    json::object meta{{"sha256", hex}, {"size", size}, {"time_us", ev.time_us},
                      {"container_id", base::escape(ev.container_id)}, {"container_name", base::escape(ev.container_name)},
                      {"image", base::escape(ev.image)}, {"path", base::escape(ev.path)}, {"kind", ev.kind}};
    base::UniqueFd m(::open((path_of(hex) + ".json").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    const std::string text = json::serialize(meta) + "\n";
    if (!m || ::write(m.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::rename(tmp.c_str(), path_of(hex).c_str()) != 0) {
        ::unlink(tmp.c_str());
        return unexpected(Error::from_errno("store sample " + hex));
    }
    return hex;
}

std::vector<Sample> Quarantine::list() const {
    std::vector<Sample> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        const auto name = e.path().filename().string();
        if (!is_sha256(name)) continue;
        Sample s;
        s.sha256 = name;
        s.size = fs::file_size(e.path(), ec);
        if (auto text = base::read_file(e.path().string() + ".json", 1 << 16)) {
            boost::system::error_code jec;
            auto v = json::parse(*text, jec);
            if (!jec && v.is_object()) {
                const auto& o = v.as_object();
                auto str = [&](const char* k) {
                    auto it = o.find(k);
                    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
                };
                s.container_id = str("container_id");
                s.container_name = str("container_name");
                s.image = str("image");
                s.path = str("path");
                s.kind = str("kind");
                if (auto it = o.find("time_us"); it != o.end() && it->value().is_int64()) s.time_us = it->value().as_int64();
            }
        }
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) { return a.time_us < b.time_us; });
    return out;
}

base::Result<void> Quarantine::export_to(const std::string& sha256, const std::string& dest) const {
    if (!is_sha256(sha256)) return unexpected(Error::invalid("not a sha256: " + sha256));
    base::UniqueFd in(::open(path_of(sha256).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in) return unexpected(Error::from_errno("no sample " + sha256));
    struct stat st{};
    ::fstat(in.get(), &st);
    base::UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return unexpected(Error::from_errno("create " + dest));
    return copy_fd(in.get(), out.get(), static_cast<std::uint64_t>(st.st_size));
}

// Oldest first, until `keep_free` more bytes fit under the bound.
void Quarantine::evict(std::uint64_t keep_free) {
    auto samples = list();
    std::uint64_t total = 0;
    for (const auto& s : samples) total += s.size;
    for (const auto& s : samples) {
        if (total + keep_free <= max_bytes_) break;
        ::unlink(path_of(s.sha256).c_str());
        ::unlink((path_of(s.sha256) + ".json").c_str());
        total -= s.size;
    }
}

}  // namespace layerlock::response
