// SPDX-License-Identifier: Apache-2.0
// Baseline bundles, their Ed25519 signatures and keys (bundle.hpp). OpenSSL's EVP
// interface for the keys and signatures, libarchive for the tar, Boost.JSON for
// bundle.json and the signature file.
#include "layerlock/baseline/bundle.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>

#include "layerlock/base/fs.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/digest/sha256.hpp"

namespace layerlock::baseline {
namespace {

namespace json = boost::json;

constexpr std::string_view kFormat = "layerlock-baseline-bundle/1";
constexpr std::string_view kSignatureFormat = "layerlock-signature/1";
constexpr std::string_view kSignedPrefix = "layerlock-baseline-bundle-v1\n";
constexpr std::string_view kRecordsMagic = "LLREC1\n";
constexpr std::size_t kBundleLimit = std::size_t{4} << 30;

base::Unexpected<base::Error> fail(const std::string& what) { return base::unexpected(base::Error::plain(what)); }

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct FileCloser {
    void operator()(FILE* f) const noexcept { std::fclose(f); }
};
struct WriteDeleter {
    void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct ReadDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};

// A new file, never an existing one.
base::Result<base::UniqueFd> create_new(const std::string& path, mode_t mode) {
    base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd) return base::unexpected(base::Error::from_errno("create " + path));
    ::fchmod(fd.get(), mode);   // not the process's umask
    return fd;
}

base::Result<void> write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return base::unexpected(base::Error::from_errno("write " + path));
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> unbase64(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string out(3 * text.size() / 4 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    std::size_t len = static_cast<std::size_t>(n);
    for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --len;   // padding decodes as zeros
    out.resize(len);
    return out;
}

base::Result<PkeyPtr> read_key(const std::string& path, bool private_key) {
    auto text = base::read_regular_file(path, 64 * 1024);
    if (!text) return base::unexpected(text.error());
    std::unique_ptr<FILE, FileCloser> f(fmemopen(text->data(), text->size(), "r"));
    if (!f) return base::unexpected(base::Error::from_errno("read " + path));
    EVP_PKEY* k = private_key ? PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr)
                              : PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr);
    if (!k) return fail(path + ": not a PEM " + (private_key ? "private" : "public") + " key");
    PkeyPtr key(k);
    if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return fail(path + ": not an Ed25519 key");
    return key;
}

std::string key_id(EVP_PKEY* key) {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return {};
    return model::to_hex(digest::sha256_bytes(raw, len));
}

std::string signed_message(const std::string& bundle_sha_hex) { return std::string(kSignedPrefix) + bundle_sha_hex; }

// ---- records ---------------------------------------------------------------------

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

class Reader {
public:
    explicit Reader(std::string_view d) : d_(d) {}
    bool u8(std::uint8_t& v) {
        if (d_.size() < 1) return false;
        v = static_cast<std::uint8_t>(d_[0]);
        d_.remove_prefix(1);
        return true;
    }
    bool u32(std::uint32_t& v) {
        if (d_.size() < 4) return false;
        v = 0;
        for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<std::uint8_t>(d_[i])) << (8 * i);
        d_.remove_prefix(4);
        return true;
    }
    bool u64(std::uint64_t& v) {
        if (d_.size() < 8) return false;
        v = 0;
        for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<std::uint8_t>(d_[i])) << (8 * i);
        d_.remove_prefix(8);
        return true;
    }
    bool bytes(std::size_t n, std::string& out) {
        if (d_.size() < n) return false;
        out.assign(d_.substr(0, n));
        d_.remove_prefix(n);
        return true;
    }
    bool done() const { return d_.empty(); }

private:
    std::string_view d_;
};

// ---- the tar ----------------------------------------------------------------------

base::Result<void> add_member(archive* a, const std::string& name, std::string_view data) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a, e.get()) != ARCHIVE_OK) return fail(std::string("bundle: ") + archive_error_string(a));
    for (std::size_t at = 0; at < data.size();) {
        la_ssize_t n = archive_write_data(a, data.data() + at, std::min<std::size_t>(data.size() - at, 1 << 20));
        if (n < 0) return fail(std::string("bundle: ") + archive_error_string(a));
        at += static_cast<std::size_t>(n);
    }
    return {};
}

std::string hex_of(const std::string& diff_id) { return diff_id.substr(diff_id.find(':') + 1); }

const json::value* member(const json::value& v, std::string_view key) {
    return v.is_object() ? v.as_object().if_contains(key) : nullptr;
}
std::string text_of(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : std::string(); }

bool valid_digest(const std::string& d) {
    return d.size() == 71 && d.starts_with("sha256:") && model::sha256_from_hex(std::string_view(d).substr(7));
}

}  // namespace

std::string encode_records(const std::vector<Entry>& entries) {
    std::string out(kRecordsMagic);
    put_u64(out, entries.size());
    for (const auto& e : entries) {
        out += static_cast<char>(e.kind);
        put_u32(out, e.mode);
        put_u64(out, e.size);
        if (e.kind == EntryKind::Regular) out.append(reinterpret_cast<const char*>(e.sha256.data()), e.sha256.size());
        put_u32(out, static_cast<std::uint32_t>(e.path.size()));
        out += e.path;
        put_u32(out, static_cast<std::uint32_t>(e.target.size()));
        out += e.target;
    }
    return out;
}

base::Result<std::vector<Entry>> decode_records(std::string_view data) {
    if (!data.starts_with(kRecordsMagic)) return fail("records: not a layerlock records file");
    Reader r(data.substr(kRecordsMagic.size()));
    std::uint64_t count = 0;
    if (!r.u64(count) || count > data.size()) return fail("records: truncated");
    std::vector<Entry> out;
    out.reserve(static_cast<std::size_t>(count));
    std::string last;
    for (std::uint64_t i = 0; i < count; ++i) {
        Entry e;
        std::uint8_t kind = 0;
        std::uint32_t len = 0;
        if (!r.u8(kind) || kind > static_cast<std::uint8_t>(EntryKind::Other)) return fail("records: bad entry kind");
        e.kind = static_cast<EntryKind>(kind);
        if (!r.u32(e.mode) || !r.u64(e.size)) return fail("records: truncated");
        if (e.kind == EntryKind::Regular) {
            std::string sha;
            if (!r.bytes(32, sha)) return fail("records: truncated");
            std::memcpy(e.sha256.data(), sha.data(), 32);
        }
        if (!r.u32(len) || !r.bytes(len, e.path)) return fail("records: truncated");
        if (!r.u32(len) || !r.bytes(len, e.target)) return fail("records: truncated");
        if (e.path.empty() || e.path.front() != '/' || e.path.find('\0') != std::string::npos ||
            (!last.empty() && !(last < e.path)))
            return fail("records: paths not absolute, unique and sorted");
        last = e.path;
        out.push_back(std::move(e));
    }
    if (!r.done()) return fail("records: bytes after the last entry");
    return out;
}

base::Result<BundleSummary> export_bundle(Store& store, const std::vector<ImageRecord>& images, const std::string& path) {
    if (images.empty()) return fail("no image to export");
    json::array imgs;
    std::map<std::string, std::string> records;   // diff id -> encoded records
    json::array layers;
    BundleSummary sum;
    for (const auto& img : images) {
        json::array ids;
        for (const auto& d : img.diff_ids) {
            ids.emplace_back(d);
            if (records.count(d)) continue;
            auto entries = store.content_records(d);
            if (!entries) return fail("no records of layer " + d + " (of " + img.ref + ") in the database");
            std::string enc = encode_records(*entries);
            std::uint64_t files = 0, bytes = 0;
            for (const auto& e : *entries)
                if (e.kind == EntryKind::Regular) ++files, bytes += e.size;
            layers.push_back(json::object{{"diff_id", d}, {"entries", entries->size()}, {"files", files},
                                          {"bytes", bytes},
                                          {"records_sha256", model::to_hex(digest::sha256_bytes(enc.data(), enc.size()))}});
            sum.entries += entries->size();
            records.emplace(d, std::move(enc));
        }
        imgs.push_back(json::object{{"ref", img.ref}, {"config_digest", img.config_digest},
                                    {"manifest_digest", img.manifest_digest}, {"diff_ids", std::move(ids)}});
    }
    sum.images = images.size();
    sum.layers = records.size();
    const std::string doc = json::serialize(json::object{{"format", kFormat}, {"images", std::move(imgs)},
                                                        {"layers", std::move(layers)}}) + "\n";
    auto fd = create_new(path, 0644);
    if (!fd) return base::unexpected(fd.error());
    std::unique_ptr<archive, WriteDeleter> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    auto cleanup = [&](base::Error e) -> base::Result<BundleSummary> {
        ::unlink(path.c_str());
        return base::unexpected(std::move(e));
    };
    if (archive_write_open_fd(a.get(), fd->get()) != ARCHIVE_OK)
        return cleanup(base::Error::invalid(std::string("bundle: ") + archive_error_string(a.get())));
    if (auto r = add_member(a.get(), "bundle.json", doc); !r) return cleanup(r.error());
    for (const auto& [diff_id, enc] : records)
        if (auto r = add_member(a.get(), "layers/" + hex_of(diff_id) + ".records", enc); !r) return cleanup(r.error());
    if (archive_write_close(a.get()) != ARCHIVE_OK)
        return cleanup(base::Error::invalid(std::string("bundle: ") + archive_error_string(a.get())));
    if (::fsync(fd->get()) != 0) return cleanup(base::Error::from_errno("fsync " + path));
    struct stat st{};
    if (::fstat(fd->get(), &st) == 0) sum.bytes = static_cast<std::uint64_t>(st.st_size);
    return sum;
}

base::Result<std::string> generate_keypair(const std::string& private_path, const std::string& public_path) {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) return fail("Ed25519 key generation failed");
    auto pem = [&](bool priv) -> std::string {
        std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
        if (!bio) return {};
        int ok = priv ? PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio.get(), key.get());
        if (ok != 1) return {};
        char* data = nullptr;
        long n = BIO_get_mem_data(bio.get(), &data);
        return std::string(data, static_cast<std::size_t>(n));
    };
    const std::string priv = pem(true), pub = pem(false);
    if (priv.empty() || pub.empty()) return fail("Ed25519 key encoding failed");
    auto pfd = create_new(private_path, 0600);
    if (!pfd) return base::unexpected(pfd.error());
    if (auto r = write_all(pfd->get(), priv, private_path); !r) return base::unexpected(r.error());
    auto ufd = create_new(public_path, 0644);
    if (!ufd) {
        ::unlink(private_path.c_str());
        return base::unexpected(ufd.error());
    }
    if (auto r = write_all(ufd->get(), pub, public_path); !r) return base::unexpected(r.error());
    return key_id(key.get());
}

base::Result<std::string> public_key_id(const std::string& public_path) {
    auto key = read_key(public_path, false);
    if (!key) return base::unexpected(key.error());
    return key_id(key->get());
}

base::Result<std::string> sign_bundle(const std::string& bundle, const std::string& private_path,
                                      const std::string& sig_path) {
    auto key = read_key(private_path, true);
    if (!key) return base::unexpected(key.error());
    base::UniqueFd fd(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return base::unexpected(base::Error::from_errno("open " + bundle));
    auto sha = digest::sha256_fd(fd.get());
    if (!sha) return base::unexpected(sha.error());
    const std::string hex = model::to_hex(*sha), msg = signed_message(hex);
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    std::size_t len = sizeof sig;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1)
        return fail("signing failed");
    const std::string id = key_id(key->get());
    const std::string doc = json::serialize(json::object{
        {"format", kSignatureFormat}, {"algorithm", "ed25519"}, {"key_id", id}, {"bundle_sha256", hex},
        {"signature", base64(std::string_view(reinterpret_cast<const char*>(sig), len))}}) + "\n";
    auto out = create_new(sig_path, 0644);
    if (!out) return base::unexpected(out.error());
    if (auto r = write_all(out->get(), doc, sig_path); !r) return base::unexpected(r.error());
    return id;
}

base::Result<Bundle> open_verified_bundle(const std::string& path, const std::string& sig_path,
                                          const std::vector<std::string>& trusted, std::string* signed_by) {
    if (trusted.empty()) return fail("no trusted public key given (--trust KEY.pub)");
    // The bytes checked are the bytes decoded: read once, into memory.
    auto bytes = base::read_regular_file(path, kBundleLimit);
    if (!bytes) return base::unexpected(bytes.error());
    const std::string hex = model::to_hex(digest::sha256_bytes(bytes->data(), bytes->size()));
    auto sig_text = base::read_regular_file(sig_path, 64 * 1024);
    if (!sig_text) return base::unexpected(base::Error::invalid("signature " + sig_path + ": " + sig_text.error().message()));
    boost::system::error_code ec;
    auto sig_doc = json::parse(*sig_text, ec);
    if (ec || text_of(member(sig_doc, "format")) != kSignatureFormat || text_of(member(sig_doc, "algorithm")) != "ed25519")
        return fail(sig_path + ": not a layerlock signature");
    auto sig = unbase64(text_of(member(sig_doc, "signature")));
    if (!sig || sig->size() != 64) return fail(sig_path + ": malformed signature");
    const std::string msg = signed_message(hex);
    std::string who;
    std::vector<std::string> tried;
    for (const auto& t : trusted) {
        auto key = read_key(t, false);
        if (!key) return base::unexpected(key.error());
        std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
        if (ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1) {
            who = key_id(key->get());
            break;
        }
        tried.push_back(key_id(key->get()).substr(0, 16));
    }
    if (who.empty()) {
        std::string keys;
        for (const auto& k : tried) keys += (keys.empty() ? "" : ", ") + k;
        const bool other_bytes = text_of(member(sig_doc, "bundle_sha256")) != hex;
        return fail(path + ": the signature does not verify with any trusted key (" + keys + ")" +
                    (other_bytes ? ": the bundle's bytes are not the ones signed" : ": signed by key " +
                                                                                    text_of(member(sig_doc, "key_id")).substr(0, 16)));
    }
    // Now the contents.
    std::unique_ptr<archive, ReadDeleter> a(archive_read_new());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_memory(a.get(), bytes->data(), bytes->size()) != ARCHIVE_OK)
        return fail(path + ": not a bundle (" + archive_error_string(a.get()) + ")");
    std::map<std::string, std::string> members;
    archive_entry* e = nullptr;
    for (;;) {
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) return fail(path + ": " + archive_error_string(a.get()));
        std::string name = archive_entry_pathname(e);
        std::string data;
        const auto size = archive_entry_size(e);
        if (size < 0 || static_cast<std::uint64_t>(size) > bytes->size()) return fail(path + ": bad member " + name);
        data.resize(static_cast<std::size_t>(size));
        if (archive_read_data(a.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
            return fail(path + ": truncated member " + name);
        if (!members.emplace(std::move(name), std::move(data)).second) return fail(path + ": a member twice");
    }
    auto doc_it = members.find("bundle.json");
    if (doc_it == members.end()) return fail(path + ": no bundle.json");
    auto doc = json::parse(doc_it->second, ec);
    if (ec || text_of(member(doc, "format")) != kFormat) return fail(path + ": bundle.json is not " + std::string(kFormat));
    Bundle out;
    out.sha256 = hex;
    const auto* layers = member(doc, "layers");
    if (!layers || !layers->is_array()) return fail(path + ": bundle.json has no layers");
    for (const auto& l : layers->as_array()) {
        BundleLayer layer;
        layer.diff_id = text_of(member(l, "diff_id"));
        if (!valid_digest(layer.diff_id)) return fail(path + ": a layer without a valid diff id");
        auto rec = members.find("layers/" + hex_of(layer.diff_id) + ".records");
        if (rec == members.end()) return fail(path + ": no records for layer " + layer.diff_id);
        if (model::to_hex(digest::sha256_bytes(rec->second.data(), rec->second.size())) !=
            text_of(member(l, "records_sha256")))
            return fail(path + ": the records of layer " + layer.diff_id + " are not the ones bundle.json names");
        auto entries = decode_records(rec->second);
        if (!entries) return fail(path + ": layer " + layer.diff_id + ": " + entries.error().message());
        layer.entries = std::move(*entries);
        out.layers.push_back(std::move(layer));
    }
    const auto* imgs = member(doc, "images");
    if (!imgs || !imgs->is_array()) return fail(path + ": bundle.json has no images");
    for (const auto& i : imgs->as_array()) {
        ImageRecord img;
        img.ref = text_of(member(i, "ref"));
        img.config_digest = text_of(member(i, "config_digest"));
        img.manifest_digest = text_of(member(i, "manifest_digest"));
        if (img.ref.empty() || !valid_digest(img.config_digest)) return fail(path + ": an image without ref or config digest");
        if (const auto* ids = member(i, "diff_ids"); ids && ids->is_array())
            for (const auto& d : ids->as_array()) img.diff_ids.push_back(text_of(&d));
        for (const auto& d : img.diff_ids) {
            bool found = false;
            for (const auto& l : out.layers) found = found || l.diff_id == d;
            if (!found) return fail(path + ": image " + img.ref + " names layer " + d + " the bundle does not hold");
        }
        out.images.push_back(std::move(img));
    }
    if (signed_by) *signed_by = who;
    return out;
}

}  // namespace layerlock::baseline
