// SPDX-License-Identifier: Apache-2.0
#include "layerlock/response/bundle.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "layerlock/base/unique_fd.hpp"

namespace layerlock::response {
namespace {

using base::Error;
using base::unexpected;

struct ArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct ReadDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct EntryDeleter {
    void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};

}  // namespace

struct Bundle::Impl {
    std::unique_ptr<archive, ArchiveDeleter> a;
    base::UniqueFd fd;
    std::uint64_t max_bytes = 0, used = 0;
    std::vector<std::string> in, left_out;
    bool header(const std::string& name, std::uint64_t size) {
        std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0600);
        archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
        return archive_write_header(a.get(), e.get()) == ARCHIVE_OK;
    }
};

Bundle::Bundle(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bundle::Bundle(Bundle&&) noexcept = default;
Bundle& Bundle::operator=(Bundle&&) noexcept = default;
Bundle::~Bundle() = default;

base::Result<Bundle> Bundle::create(const std::string& path, std::uint64_t max_bytes) {
    auto impl = std::make_unique<Impl>();
    impl->fd.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!impl->fd) return unexpected(Error::from_errno("create " + path));
    impl->a.reset(archive_write_new());
    impl->max_bytes = max_bytes;
    if (!impl->a || archive_write_set_format_pax_restricted(impl->a.get()) != ARCHIVE_OK ||
        archive_write_open_fd(impl->a.get(), impl->fd.get()) != ARCHIVE_OK)
        return unexpected(Error::plain("tar " + path + ": cannot start the archive"));
    return Bundle(std::move(impl));
}

bool Bundle::add(const std::string& name, const std::string& content) {
    auto& i = *impl_;
    if (i.used + content.size() > i.max_bytes || !i.header(name, content.size())) {
        i.left_out.push_back(name);
        return false;
    }
    archive_write_data(i.a.get(), content.data(), content.size());
    i.used += content.size();
    i.in.push_back(name);
    return true;
}

bool Bundle::add_file(const std::string& name, int fd) {
    auto& i = *impl_;
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (i.used + size > i.max_bytes || !i.header(name, size)) {
        i.left_out.push_back(name);
        return false;
    }
    char buf[1 << 16];
    std::uint64_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(done));
        if (n <= 0) break;
        archive_write_data(i.a.get(), buf, static_cast<std::size_t>(n));
        done += static_cast<std::uint64_t>(n);
    }
    if (done < size) {   // the file shrank: pad what the header promised
        std::string zeros(static_cast<std::size_t>(std::min<std::uint64_t>(size - done, sizeof buf)), '\0');
        while (done < size) {
            const auto n = std::min<std::uint64_t>(zeros.size(), size - done);
            archive_write_data(i.a.get(), zeros.data(), n);
            done += n;
        }
    }
    i.used += size;
    i.in.push_back(name);
    return true;
}

base::Result<void> Bundle::finish() {
    auto& i = *impl_;
    std::string manifest = "layerlock forensics bundle\n\nincluded:\n";
    for (const auto& n : i.in) manifest += "  " + n + "\n";
    if (!i.left_out.empty()) {
        manifest += "\nleft out (past the bundle's size bound, forensics.max_mb):\n";
        for (const auto& n : i.left_out) manifest += "  " + n + "\n";
    }
    i.max_bytes += manifest.size();   // the manifest always fits
    add("MANIFEST", manifest);
    if (archive_write_close(i.a.get()) != ARCHIVE_OK) return unexpected(Error::plain("tar: cannot finish the archive"));
    return {};
}

base::Result<std::vector<std::string>> bundle_entries(const std::string& path) {
    std::unique_ptr<archive, ReadDeleter> a(archive_read_new());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
        return unexpected(Error::plain("open " + path + ": " + archive_error_string(a.get())));
    std::vector<std::string> out;
    archive_entry* e = nullptr;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
        out.emplace_back(archive_entry_pathname(e));
        archive_read_data_skip(a.get());
    }
    return out;
}

}  // namespace layerlock::response
