// SPDX-License-Identifier: Apache-2.0
// Reading an image archive as a stream (archive.hpp). Three libarchive readers are
// chained per layer, each pulling from the one before through a read callback:
//   the archive (a tar file, or an OCI layout's blob file)
//     -> the layer blob, decompressed (format "raw", every filter)
//       -> the layer's tar, parsed entry by entry
// The decompressed bytes pass through the last callback, where they are also handed
// to a second thread that hashes them into the diff id, while this thread hashes
// each regular file as its data streams. Nothing is written to disk.
#include "layerlock/baseline/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "layerlock/base/unique_fd.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::baseline {
namespace {

namespace json = boost::json;

constexpr std::size_t kJsonLimit = 16u << 20;   // manifests, configs, indexes

struct ArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

base::Unexpected<base::Error> fail(const std::string& what) {
    return base::unexpected(base::Error::plain(what));
}
base::Unexpected<base::Error> fail_archive(archive* a, const std::string& what) {
    const char* why = a ? archive_error_string(a) : nullptr;
    return base::unexpected(base::Error::plain(what + ": " + (why ? why : "unreadable")));
}

std::string digest_text(const model::Sha256& d) { return "sha256:" + model::to_hex(d); }

// ---- byte sources the layer readers pull from ----------------------------------

class Source {
public:
    virtual ~Source() = default;
    // The next block: its size, 0 at the end, -1 on error (error() says why).
    virtual long next(const void** block) = 0;
    std::uint64_t consumed = 0;
};

// The data of the current entry of an archive, block by block, after a first
// block already read (the one looked at to tell a layer from a JSON document).
class EntrySource final : public Source {
public:
    EntrySource(archive* a, std::string first) : a_(a), first_(std::move(first)) {}
    long next(const void** block) override {
        if (!first_sent_) {
            first_sent_ = true;
            if (!first_.empty()) {
                *block = first_.data();
                consumed += first_.size();
                return static_cast<long>(first_.size());
            }
        }
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(a_, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) return 0;
        if (r < ARCHIVE_WARN) return -1;
        *block = buf;
        consumed += size;
        return static_cast<long>(size);
    }

private:
    archive* a_;
    std::string first_;
    bool first_sent_ = false;
};

la_ssize_t source_read(archive*, void* ctx, const void** block) {
    long n = static_cast<Source*>(ctx)->next(block);
    return n;
}

// Reads the first bytes of the current entry (to tell a layer from a document).
base::Result<std::string> entry_head(archive* a, std::size_t want) {
    std::string head;
    while (head.size() < want) {
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return fail_archive(a, "read");
        head.append(static_cast<const char*>(buf), size);
    }
    return head;
}

bool looks_like_json(std::string_view head) {
    for (char c : head) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        return c == '{' || c == '[';
    }
    return false;
}

// ---- the diff id: the decompressed stream hashed on a thread of its own -------

class StreamHasher {
public:
    StreamHasher() : thread_([this] { run(); }) {}
    ~StreamHasher() {
        {
            std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void add(const void* data, std::size_t size) {
        if (size == 0) return;
        const auto* p = static_cast<const char*>(data);
        std::unique_lock lock(m_);
        space_.wait(lock, [&] { return queue_.size() < kDepth; });
        // Buffers are reused: a fresh allocation of each block (up to a MiB) costs
        // more in page faults than the hashing.
        std::vector<char> block;
        if (!free_.empty()) {
            block = std::move(free_.back());
            free_.pop_back();
        }
        lock.unlock();
        block.assign(p, p + size);
        lock.lock();
        queue_.push_back(std::move(block));
        cv_.notify_one();
    }
    // Waits for every block added, returns the digest and starts over.
    model::Sha256 finish() {
        std::unique_lock lock(m_);
        idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
        return sha_.final();
    }

private:
    static constexpr std::size_t kDepth = 32;
    void run() {
        std::unique_lock lock(m_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            std::vector<char> block = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
            space_.notify_one();
            lock.unlock();
            sha_.update(block.data(), block.size());
            lock.lock();
            free_.push_back(std::move(block));
            busy_ = false;
            if (queue_.empty()) idle_.notify_all();
        }
    }
    digest::Sha256Stream sha_;
    std::mutex m_;
    std::condition_variable cv_, space_, idle_;
    std::deque<std::vector<char>> queue_;
    std::vector<std::vector<char>> free_;
    bool busy_ = false, stop_ = false;
    std::thread thread_;
};

// The decompressed layer, as the tar reader's source; feeds the diff id hasher.
struct Decompressed {
    archive* raw = nullptr;
    StreamHasher* hasher = nullptr;
    std::uint64_t bytes = 0;
};

la_ssize_t decompressed_read(archive*, void* ctx, const void** block) {
    auto* d = static_cast<Decompressed*>(ctx);
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(d->raw, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return 0;
    if (r < ARCHIVE_WARN) return -1;
    d->hasher->add(buf, size);
    d->bytes += size;
    *block = buf;
    return static_cast<la_ssize_t>(size);
}

// ---- one layer ------------------------------------------------------------------

// Hashes the current tar entry's data; sparse holes count as zeros.
base::Result<std::pair<model::Sha256, std::uint64_t>> hash_entry(archive* tar, std::uint64_t declared) {
    thread_local digest::Sha256Stream sha;
    static const std::string zeros(64 * 1024, '\0');
    std::uint64_t at = 0;
    auto pad_to = [&](std::uint64_t until) {
        while (at < until) {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), until - at));
            sha.update(zeros.data(), n);
            at += n;
        }
    };
    for (;;) {
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(tar, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            (void)sha.final();   // start over for the next use
            return fail_archive(tar, "layer file data");
        }
        if (offset >= 0) pad_to(static_cast<std::uint64_t>(offset));
        sha.update(buf, size);
        at += size;
    }
    pad_to(declared);
    return std::make_pair(sha.final(), at);
}

base::Result<ArchiveLayer> read_layer(Source& blob, StreamHasher& hasher) {
    ArchivePtr raw(archive_read_new());
    if (!raw) return fail("libarchive: out of memory");
    archive_read_support_filter_all(raw.get());
    archive_read_support_format_raw(raw.get());
    if (archive_read_open(raw.get(), &blob, nullptr, source_read, nullptr) != ARCHIVE_OK)
        return fail_archive(raw.get(), "layer");
    archive_entry* e = nullptr;
    if (archive_read_next_header(raw.get(), &e) != ARCHIVE_OK) return fail_archive(raw.get(), "layer");

    Decompressed dec{raw.get(), &hasher, 0};
    ArchivePtr tar(archive_read_new());
    if (!tar) return fail("libarchive: out of memory");
    archive_read_support_format_tar(tar.get());
    archive_read_support_format_gnutar(tar.get());
    if (archive_read_open(tar.get(), &dec, nullptr, decompressed_read, nullptr) != ARCHIVE_OK)
        return fail_archive(tar.get(), "layer tar");

    std::map<std::string, Entry> entries;
    std::set<std::string> opaque;
    ArchiveLayer layer;
    for (;;) {
        int r = archive_read_next_header(tar.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return fail_archive(tar.get(), "layer tar");
        const char* raw_name = archive_entry_pathname(e);
        if (!raw_name) return fail("layer tar: an entry without a name");
        std::string path = layer_path(raw_name);
        if (path == "..") return fail(std::string("layer tar: a name that leaves the layer: ") + raw_name);
        if (path.empty()) continue;   // the root itself
        const auto slash = path.rfind('/');
        const std::string dir = path.substr(0, slash), base = path.substr(slash + 1);
        if (base == ".wh..wh..opq") {   // the directory it is in hides the layers below
            opaque.insert(dir);
            continue;
        }
        Entry out;
        if (base.starts_with(".wh.")) {   // a whiteout: as overlayfs stores it, a 0/0 device
            out.path = dir + "/" + base.substr(4);
            out.kind = EntryKind::Whiteout;
            out.mode = S_IFCHR;
            entries[out.path] = std::move(out);
            continue;
        }
        out.path = path;
        out.mode = static_cast<std::uint32_t>(archive_entry_mode(e));
        if (const char* target = archive_entry_hardlink(e)) {   // the same file as an earlier entry
            auto it = entries.find(layer_path(target));
            if (it == entries.end() || it->second.kind != EntryKind::Regular)
                return fail(std::string("layer tar: a hard link to a file not before it: ") + raw_name);
            out = it->second;
            out.path = path;
            entries[path] = std::move(out);
            continue;
        }
        switch (archive_entry_filetype(e)) {
            case AE_IFREG: {
                auto hashed = hash_entry(tar.get(), static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e))));
                if (!hashed) return base::unexpected(hashed.error());
                out.kind = EntryKind::Regular;
                out.sha256 = hashed->first;
                out.size = hashed->second;
                ++layer.files;
                layer.file_bytes += out.size;
                break;
            }
            case AE_IFDIR: out.kind = EntryKind::Directory; break;
            case AE_IFLNK: {
                const char* target = archive_entry_symlink(e);
                out.kind = EntryKind::Symlink;
                out.target = target ? target : "";
                out.size = out.target.size();
                break;
            }
            default: out.kind = EntryKind::Other; break;   // devices, FIFOs, sockets
        }
        if (out.kind == EntryKind::Directory) {
            if (auto it = entries.find(path); it != entries.end() && it->second.kind == EntryKind::Directory) {
                it->second.mode = out.mode;   // a directory listed again: its latest mode
                continue;
            }
        }
        entries[path] = std::move(out);
    }
    // Drain what the tar reader left unread (end-of-archive padding): the diff id
    // is the digest of every byte of the layer.
    {
        const void* block = nullptr;
        while (decompressed_read(nullptr, &dec, &block) > 0) {
        }
    }
    // Directories only implied by their contents are created by the engine (0755),
    // as they will be in the host's layer directory.
    std::vector<std::string> implied;
    for (const auto& [path, entry] : entries)
        for (auto slash = path.rfind('/'); slash != 0 && slash != std::string::npos; slash = path.rfind('/', slash - 1))
            if (!entries.count(path.substr(0, slash))) implied.push_back(path.substr(0, slash));
    for (const auto& d : implied) {
        auto& entry = entries[d];
        if (entry.path.empty()) {
            entry.path = d;
            entry.kind = EntryKind::Directory;
            entry.mode = S_IFDIR | 0755;
        }
    }
    for (const auto& d : opaque) {
        auto& entry = entries[d];
        if (entry.path.empty()) {   // the marker without its directory's own entry
            entry.path = d;
            entry.mode = S_IFDIR | 0755;
        }
        entry.kind = EntryKind::OpaqueDirectory;
    }
    layer.entries.reserve(entries.size());
    for (auto& [path, entry] : entries) {
        if (path.empty()) continue;
        layer.entries.push_back(std::move(entry));
    }
    layer.diff_id = digest_text(hasher.finish());
    layer.uncompressed_bytes = dec.bytes;
    layer.compressed_bytes = blob.consumed;
    return layer;
}

// ---- the archive ------------------------------------------------------------------

struct Collected {
    std::map<std::string, std::string> documents;    // entry name -> JSON text
    std::map<std::string, std::string> layer_of;     // entry name -> diff id
};

base::Result<void> take_entry(archive* a, const std::string& name, std::uint64_t size, StreamHasher& hasher,
                              const LayerCallback& on_layer, Collected& got, ArchiveStats& stats) {
    auto head = entry_head(a, 512);
    if (!head) return base::unexpected(head.error());
    if (looks_like_json(*head) && size <= kJsonLimit) {
        std::string doc = std::move(*head);
        auto rest = entry_head(a, kJsonLimit + 1);
        if (!rest) return base::unexpected(rest.error());
        doc += *rest;
        if (doc.size() > kJsonLimit) return fail(name + ": a document larger than 16 MiB");
        stats.archive_bytes += doc.size();
        got.documents[name] = std::move(doc);
        return {};
    }
    if (head->empty()) return {};   // an empty file (a "VERSION" marker, ...)
    if (name.ends_with("/VERSION") || name == "oci-layout" || name == "repositories") return {};
    EntrySource src(a, std::move(*head));
    auto layer = read_layer(src, hasher);
    if (!layer) return base::unexpected(base::Error::invalid(name + ": " + layer.error().message()));
    stats.archive_bytes += layer->compressed_bytes;
    stats.uncompressed_bytes += layer->uncompressed_bytes;
    stats.files += layer->files;
    stats.file_bytes += layer->file_bytes;
    got.layer_of[name] = layer->diff_id;
    return on_layer(std::move(*layer));
}

const json::value* member(const json::value& v, std::string_view key) {
    if (!v.is_object()) return nullptr;
    return v.as_object().if_contains(key);
}
std::string text_of(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : std::string(); }

base::Result<json::value> parse_doc(const Collected& got, const std::string& name) {
    auto it = got.documents.find(name);
    if (it == got.documents.end()) return fail("the archive has no " + name);
    boost::system::error_code ec;
    auto v = json::parse(it->second, ec);
    if (ec) return fail(name + ": not JSON: " + ec.message());
    return v;
}

// An image config's rootfs.diff_ids.
base::Result<std::vector<std::string>> diff_ids_of(const json::value& config, const std::string& name) {
    const auto* rootfs = member(config, "rootfs");
    const auto* ids = rootfs ? member(*rootfs, "diff_ids") : nullptr;
    if (!ids || !ids->is_array()) return fail(name + ": an image config without rootfs.diff_ids");
    std::vector<std::string> out;
    for (const auto& id : ids->as_array()) out.push_back(text_of(&id));
    return out;
}

std::string blob_name(const std::string& digest) {   // "sha256:<hex>" -> "blobs/sha256/<hex>"
    auto colon = digest.find(':');
    if (colon == std::string::npos) return {};
    return "blobs/" + digest.substr(0, colon) + "/" + digest.substr(colon + 1);
}

// The layers an image lists, as read: each must have been read and be the config's.
base::Result<void> check_layers(const std::vector<std::string>& blobs, const std::vector<std::string>& diff_ids,
                                const Collected& got, const std::string& image) {
    if (blobs.size() != diff_ids.size())
        return fail(image + ": " + std::to_string(blobs.size()) + " layers but " + std::to_string(diff_ids.size()) +
                    " diff ids in its config");
    for (std::size_t i = 0; i < blobs.size(); ++i) {
        auto it = got.layer_of.find(blobs[i]);
        if (it == got.layer_of.end()) return fail(image + ": layer " + blobs[i] + " is not in the archive");
        if (it->second != diff_ids[i])
            return fail(image + ": layer " + blobs[i] + " has diff id " + it->second + ", its config says " +
                        diff_ids[i]);
    }
    return {};
}

base::Result<std::vector<ArchiveImage>> docker_images(const Collected& got) {
    auto manifest = parse_doc(got, "manifest.json");
    if (!manifest) return base::unexpected(manifest.error());
    if (!manifest->is_array()) return fail("manifest.json: not an array");
    std::vector<ArchiveImage> out;
    for (const auto& m : manifest->as_array()) {
        ArchiveImage img;
        const std::string config_name = text_of(member(m, "Config"));
        auto config_doc = got.documents.find(config_name);
        if (config_doc == got.documents.end()) return fail("manifest.json: config " + config_name + " is not in the archive");
        img.config_digest = digest_text(digest::sha256_bytes(config_doc->second.data(), config_doc->second.size()));
        auto config = parse_doc(got, config_name);
        if (!config) return base::unexpected(config.error());
        auto ids = diff_ids_of(*config, config_name);
        if (!ids) return base::unexpected(ids.error());
        img.diff_ids = *ids;
        if (const auto* tags = member(m, "RepoTags"); tags && tags->is_array())
            for (const auto& t : tags->as_array()) img.refs.push_back(text_of(&t));
        std::vector<std::string> blobs;
        if (const auto* layers = member(m, "Layers"); layers && layers->is_array())
            for (const auto& l : layers->as_array()) blobs.push_back(text_of(&l));
        if (auto r = check_layers(blobs, img.diff_ids, got, img.refs.empty() ? img.config_digest : img.refs.front()); !r)
            return base::unexpected(r.error());
        out.push_back(std::move(img));
    }
    return out;
}

base::Result<void> oci_manifest(const Collected& got, const std::string& digest, std::vector<std::string> refs,
                                std::vector<ArchiveImage>& out, int depth) {
    if (depth > 4) return fail("index.json: indexes nested too deep");
    auto doc = parse_doc(got, blob_name(digest));
    if (!doc) return base::unexpected(doc.error());
    if (const auto* nested = member(*doc, "manifests"); nested && nested->is_array()) {   // an index (multi-platform)
        for (const auto& m : nested->as_array())
            if (got.documents.count(blob_name(text_of(member(m, "digest")))))
                if (auto r = oci_manifest(got, text_of(member(m, "digest")), refs, out, depth + 1); !r) return r;
        return {};
    }
    ArchiveImage img;
    img.refs = std::move(refs);
    img.manifest_digest = digest;
    const auto* config_ref = member(*doc, "config");
    img.config_digest = config_ref ? text_of(member(*config_ref, "digest")) : std::string();
    auto config = parse_doc(got, blob_name(img.config_digest));
    if (!config) return base::unexpected(config.error());
    auto ids = diff_ids_of(*config, blob_name(img.config_digest));
    if (!ids) return base::unexpected(ids.error());
    img.diff_ids = *ids;
    std::vector<std::string> blobs;
    if (const auto* layers = member(*doc, "layers"); layers && layers->is_array())
        for (const auto& l : layers->as_array()) blobs.push_back(blob_name(text_of(member(l, "digest"))));
    if (auto r = check_layers(blobs, img.diff_ids, got, img.refs.empty() ? digest : img.refs.front()); !r) return r;
    out.push_back(std::move(img));
    return {};
}

base::Result<std::vector<ArchiveImage>> oci_images(const Collected& got) {
    auto index = parse_doc(got, "index.json");
    if (!index) return base::unexpected(index.error());
    const auto* manifests = member(*index, "manifests");
    if (!manifests || !manifests->is_array()) return fail("index.json: no manifests");
    std::vector<ArchiveImage> out;
    for (const auto& m : manifests->as_array()) {
        std::vector<std::string> refs;
        if (const auto* ann = member(m, "annotations")) {
            for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
                auto ref = text_of(member(*ann, key));
                if (!ref.empty() && std::find(refs.begin(), refs.end(), ref) == refs.end()) refs.push_back(ref);
            }
        }
        if (auto r = oci_manifest(got, text_of(member(m, "digest")), std::move(refs), out, 0); !r)
            return base::unexpected(r.error());
    }
    return out;
}

base::Result<std::vector<ArchiveImage>> images_of(const Collected& got) {
    if (got.documents.count("manifest.json")) return docker_images(got);
    if (got.documents.count("index.json")) return oci_images(got);
    return fail("neither a docker-save archive (manifest.json) nor an OCI image layout (index.json)");
}

std::string entry_name(const char* raw) {
    std::string name = raw ? raw : "";
    while (name.starts_with("./")) name.erase(0, 2);
    return name;
}

base::Result<std::vector<ArchiveImage>> read_tar(archive* a, const LayerCallback& on_layer, ArchiveStats& stats) {
    StreamHasher hasher;
    Collected got;
    archive_entry* e = nullptr;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return fail_archive(a, "archive");
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const std::string name = entry_name(archive_entry_pathname(e));
        if (auto t = take_entry(a, name, static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e))),
                                hasher, on_layer, got, stats);
            !t)
            return base::unexpected(t.error());
    }
    return images_of(got);
}

// A file of an OCI layout directory, as an archive of one raw entry.
base::Result<void> take_file(const std::string& dir, const std::string& name, StreamHasher& hasher,
                             const LayerCallback& on_layer, Collected& got, ArchiveStats& stats) {
    ArchivePtr a(archive_read_new());
    if (!a) return fail("libarchive: out of memory");
    archive_read_support_format_raw(a.get());   // no filter here: the layer reader decompresses
    if (archive_read_open_filename(a.get(), (dir + "/" + name).c_str(), 1 << 20) != ARCHIVE_OK)
        return fail_archive(a.get(), dir + "/" + name);
    archive_entry* e = nullptr;
    if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) return fail_archive(a.get(), dir + "/" + name);
    struct stat st{};
    if (::stat((dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return fail(dir + "/" + name + ": not a file");
    return take_entry(a.get(), name, static_cast<std::uint64_t>(st.st_size), hasher, on_layer, got, stats);
}

base::Result<std::vector<ArchiveImage>> read_layout_dir(const std::string& dir, const LayerCallback& on_layer,
                                                        ArchiveStats& stats) {
    StreamHasher hasher;
    Collected got;
    for (const char* doc : {"index.json", "manifest.json"}) {
        struct stat st{};
        if (::stat((dir + "/" + doc).c_str(), &st) == 0)
            if (auto r = take_file(dir, doc, hasher, on_layer, got, stats); !r) return base::unexpected(r.error());
    }
    const std::string blobs = dir + "/blobs";
    std::unique_ptr<DIR, int (*)(DIR*)> algs(::opendir(blobs.c_str()), ::closedir);
    if (!algs) return fail(dir + ": no blobs directory (not an OCI image layout)");
    std::vector<std::string> names;
    while (auto* a = ::readdir(algs.get())) {
        std::string alg = a->d_name;
        if (alg == "." || alg == "..") continue;
        std::unique_ptr<DIR, int (*)(DIR*)> files(::opendir((blobs + "/" + alg).c_str()), ::closedir);
        if (!files) continue;
        while (auto* f = ::readdir(files.get())) {
            std::string n = f->d_name;
            if (n != "." && n != "..") names.push_back("blobs/" + alg + "/" + n);
        }
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names)
        if (auto r = take_file(dir, n, hasher, on_layer, got, stats); !r) return base::unexpected(r.error());
    return images_of(got);
}

struct StreamCtx {
    const StreamRead* read;
    std::vector<char> buf = std::vector<char>(1 << 20);
};

la_ssize_t stream_read(archive*, void* ctx, const void** block) {
    auto* s = static_cast<StreamCtx*>(ctx);
    long n = (*s->read)(s->buf.data(), s->buf.size());
    *block = s->buf.data();
    return n;
}

}  // namespace

std::string layer_path(std::string_view name) {
    std::vector<std::string_view> parts;
    while (!name.empty()) {
        auto slash = name.find('/');
        auto part = name.substr(0, slash);
        name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (parts.empty()) return "..";
            parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    std::string out;
    for (auto p : parts) {
        out += '/';
        out += p;
    }
    return out;
}

base::Result<std::vector<ArchiveImage>> read_image_archive(const std::string& path, unsigned /*threads*/,
                                                           const LayerCallback& on_layer, ArchiveStats* stats) {
    ArchiveStats local;
    ArchiveStats& st = stats ? *stats : local;
    const auto start = std::chrono::steady_clock::now();
    struct stat s{};
    if (::stat(path.c_str(), &s) != 0) return base::unexpected(base::Error::from_errno(path));
    base::Result<std::vector<ArchiveImage>> out = fail("unreachable");
    if (S_ISDIR(s.st_mode)) {
        out = read_layout_dir(path, on_layer, st);
    } else {
        if (!S_ISREG(s.st_mode)) return fail(path + ": not a file or directory");
        ArchivePtr a(archive_read_new());
        if (!a) return fail("libarchive: out of memory");
        archive_read_support_filter_all(a.get());   // a compressed docker save (docker save | gzip)
        archive_read_support_format_tar(a.get());
        archive_read_support_format_gnutar(a.get());
        // Read, not mapped: on a warm page cache read() into one buffer beats the page
        // faults of a mapping (measured with bench/archive_bench.py).
        if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK)
            return fail_archive(a.get(), path);
        out = read_tar(a.get(), on_layer, st);
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!out) return base::unexpected(base::Error::plain(path + ": " + out.error().message()));
    return out;
}

base::Result<std::vector<ArchiveImage>> read_image_stream(const StreamRead& read, unsigned /*threads*/,
                                                          const LayerCallback& on_layer, ArchiveStats* stats) {
    ArchiveStats local;
    ArchiveStats& st = stats ? *stats : local;
    const auto start = std::chrono::steady_clock::now();
    StreamCtx ctx{&read};
    ArchivePtr a(archive_read_new());
    if (!a) return fail("libarchive: out of memory");
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    if (archive_read_open(a.get(), &ctx, nullptr, stream_read, nullptr) != ARCHIVE_OK)
        return fail_archive(a.get(), "image stream");
    auto out = read_tar(a.get(), on_layer, st);
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

}  // namespace layerlock::baseline
