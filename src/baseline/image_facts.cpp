// SPDX-License-Identifier: Apache-2.0
#include "layerlock/baseline/image_facts.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "layerlock/base/fs.hpp"
#include "layerlock/baseline/overlay_format.hpp"
#include "layerlock/baseline/store.hpp"
#include "resolve.hpp"

namespace layerlock::baseline {
namespace {

// One layer directory's own entry at `path`, read from disk (no hashing); nullopt
// when the layer has none. `failed` is set when the layer could not be read there
// (not "absent": an fd limit, an I/O error), so the caller does not guess.
std::optional<Entry> disk_entry(ImageLayers c, std::size_t layer, std::string_view path, bool& failed) {
    auto fd = base::open_beneath(c.fds[layer].get(), path, O_PATH);
    if (!fd) {
        const auto e = fd.error().code;
        // Absent here: no such name, a non-directory or a symlink (ELOOP) on the way,
        // or another mount (EXDEV), which overlayfs does not look into either.
        if (e != std::errc::no_such_file_or_directory && e != std::errc::not_a_directory &&
            e != std::errc::too_many_symbolic_link_levels && e != std::errc::cross_device_link)
            failed = true;
        return std::nullopt;
    }
    struct stat st{};
    if (::fstat(fd->get(), &st) != 0) {
        failed = true;
        return std::nullopt;
    }
    Entry e;
    e.path = std::string(path);
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.mode = st.st_mode;
    e.layer = c.paths[layer];
    if (overlay::whiteout_device(st) || overlay::whiteout_xattr(fd->get(), st)) e.kind = EntryKind::Whiteout;
    else if (S_ISREG(st.st_mode)) e.kind = EntryKind::Regular;
    else if (S_ISDIR(st.st_mode)) e.kind = overlay::opaque(fd->get()) ? EntryKind::OpaqueDirectory
                                                                 : EntryKind::Directory;
    else if (S_ISLNK(st.st_mode)) e.kind = EntryKind::Symlink;
    else e.kind = EntryKind::Other;
    return e;
}

// The layers' own view, overlay rules applied. No digest: the gate compares the
// executed file with the layer's file byte for byte when their sizes match.
ImageFile from_disk(ImageLayers c, const std::string& path) {
    ImageFile f;
    bool failed = false;
    auto lookup = [&](std::size_t layer, std::string_view p) { return disk_entry(c, layer, p, failed); };
    auto e = resolve(c.fds.size(), lookup, path);
    f.known = !failed;
    if (failed) return f;
    if (!e || e->kind != EntryKind::Regular) return f;
    f.present = true;
    f.size = e->size;
    for (std::size_t i = 0; i < c.paths.size(); ++i)
        if (c.paths[i] == e->layer) f.layer = static_cast<int>(i);
    if (f.layer < 0) f.known = false;   // resolved to a layer we cannot name: do not guess
    return f;
}

// One connection per worker thread.
Store* thread_store(const std::string& database) {
    thread_local std::unique_ptr<Store> store;
    thread_local std::string store_path;
    if (!store || store_path != database) {
        auto s = Store::open(database);
        store = s ? std::make_unique<Store>(std::move(*s)) : nullptr;
        store_path = database;
    }
    return store.get();
}

}  // namespace

void open_thread_store(const std::string& database) { thread_store(database); }

ImageFile image_file(const std::string& database, ImageLayers c, const std::string& path) {
    if (Store* store = thread_store(database)) {
        Store::ReadSnapshot snapshot(*store);   // both look-ups, one snapshot
        if (store->all_complete(c.paths)) {
            ImageFile f;
            f.known = true;
            auto e = store->lookup(c.paths, path);
            if (e && e->kind == EntryKind::Regular) {
                f.present = true;
                f.size = e->size;
                f.digest = e->sha256;
                for (std::size_t i = 0; i < c.paths.size(); ++i)
                    if (c.paths[i] == e->layer) f.layer = static_cast<int>(i);
            }
            return f;
        }
    }
    return from_disk(c, path);
}

bool image_has_size(const std::string& database, const std::vector<std::string>& lowers, std::uint64_t size) {
    Store* store = thread_store(database);
    if (!store) return true;
    Store::ReadSnapshot snapshot(*store);
    return store->has_file_of_size(lowers, size).value_or(true);
}

bool content_in_image(const std::string& database, const std::vector<std::string>& lowers, const model::Sha256& content) {
    Store* store = thread_store(database);
    if (!store) return false;
    Store::ReadSnapshot snapshot(*store);
    return store->all_complete(lowers) && store->contains_digest(lowers, content);
}

}  // namespace layerlock::baseline
