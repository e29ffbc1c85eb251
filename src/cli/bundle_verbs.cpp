// SPDX-License-Identifier: Apache-2.0
// Baselines before deploy (offline verbs, no daemon needed):
//   layerlock baseline build --image-archive FILE | --image NAME
//   layerlock baseline images
//   layerlock baseline export IMAGE... | --all -o BUNDLE
//   layerlock baseline keygen -o PREFIX
//   layerlock baseline sign BUNDLE --key KEY [--signature SIG]
//   layerlock baseline import BUNDLE --trust PUB... [--signature SIG]
// The records go to the same database the daemon reads (baseline.database); a
// layer whose content the daemon later finds on the host takes these records
// instead of being hashed there (and is checked against them).
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstring>
#include <thread>

#include "layerlock/base/escape.hpp"
#include "layerlock/base/unique_fd.hpp"
#include "layerlock/baseline/archive.hpp"
#include "layerlock/baseline/bundle.hpp"
#include "layerlock/discovery/docker.hpp"
#include "verbs.hpp"

namespace layerlock::cli {
namespace {

namespace json = boost::json;
using base::escape;

struct Built {
    std::size_t layers = 0, images = 0;
    std::uint64_t signed_kept = 0;
};

// Stores what an archive holds; prints one line per layer and image.
base::Result<Built> store_archive(baseline::Store& store, const std::vector<baseline::ArchiveImage>& images,
                                  std::vector<std::string>& lines) {
    Built b;
    for (const auto& img : images) {
        std::vector<std::string> refs = img.refs;
        if (refs.empty()) refs.push_back(img.config_digest);   // an image without a tag: by its id
        for (const auto& ref : refs) {
            baseline::ImageRecord rec{ref, img.config_digest, img.manifest_digest, img.diff_ids, "archive", "", 0};
            if (auto r = store.store_image(rec); !r) return base::unexpected(r.error());
            lines.push_back("image " + escape(ref) + ": " + img.config_digest + ", " +
                            std::to_string(img.diff_ids.size()) + " layers");
            ++b.images;
        }
    }
    return b;
}

void print_stats(const baseline::ArchiveStats& s, std::size_t layers) {
    const double mb = 1e6;
    std::printf("read %zu layers, %llu files, %.1f MB (%.1f MB uncompressed) in %.3f s: %.0f MB/s read, %.0f MB/s "
                "uncompressed\n",
                layers, static_cast<unsigned long long>(s.files), static_cast<double>(s.archive_bytes) / mb,
                static_cast<double>(s.uncompressed_bytes) / mb, s.seconds,
                s.seconds > 0 ? static_cast<double>(s.archive_bytes) / mb / s.seconds : 0.0,
                s.seconds > 0 ? static_cast<double>(s.uncompressed_bytes) / mb / s.seconds : 0.0);
}

}  // namespace

int baseline_build_image(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    auto store = open_store(*cfg);
    if (!store) return kFailure;
    std::size_t layers = 0;
    json::array layer_json;
    std::optional<base::Error> store_error;
    auto on_layer = [&](baseline::ArchiveLayer&& l) -> base::Result<void> {
        auto st = store->store_content_layer(l.diff_id, l.entries, {"archive", ""});
        if (!st) return base::unexpected(st.error());
        ++layers;
        const bool kept_signed = !st->signed_by.empty() && !st->built_now;
        if (o.json)
            layer_json.push_back(json::object{{"diff_id", l.diff_id}, {"files", l.files}, {"bytes", l.file_bytes},
                                              {"entries", l.entries.size()},
                                              {"state", kept_signed ? "signed records kept" : "stored"}});
        else
            std::printf("layer %s: %llu files, %llu bytes%s\n", l.diff_id.c_str(),
                        static_cast<unsigned long long>(l.files), static_cast<unsigned long long>(l.file_bytes),
                        kept_signed ? " (signed records kept)" : "");
        return {};
    };
    baseline::ArchiveStats stats;
    base::Result<std::vector<baseline::ArchiveImage>> images = base::unexpected(base::Error::plain("unreachable"));
    if (!o.image_archive.empty()) {
        images = baseline::read_image_archive(o.image_archive, cfg->baseline.threads, on_layer, &stats);
    } else {
        // The engine exports the image (no container started); its stream is read
        // through a socket pair while a thread of ours receives it (a socket, so
        // that a writer whose reader gave up gets EPIPE, never SIGPIPE).
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
            error("socketpair: " + std::string(std::strerror(errno)));
            return kFailure;
        }
        base::UniqueFd rd(fds[0]), wr(fds[1]);
        std::optional<base::Error> export_error;
        std::thread exporter([&] {
            discovery::DockerClient docker(cfg->discovery.docker_socket);
            auto r = docker.save_image(o.image_name, [&](const char* data, std::size_t n) {
                while (n > 0) {
                    ssize_t w = ::send(wr.get(), data, n, MSG_NOSIGNAL);
                    if (w < 0 && errno == EINTR) continue;
                    if (w < 0) return false;
                    data += w;
                    n -= static_cast<std::size_t>(w);
                }
                return true;
            });
            if (!r) export_error = r.error();
            wr.reset();
        });
        images = baseline::read_image_stream(
            [&](void* buf, std::size_t len) -> long {
                for (;;) {
                    ssize_t n = ::read(rd.get(), buf, len);
                    if (n < 0 && errno == EINTR) continue;
                    return n;
                }
            },
            cfg->baseline.threads, on_layer, &stats);
        rd.reset();   // a writer still blocked gets EPIPE and stops
        exporter.join();
        if (export_error) {
            error("export of image " + escape(o.image_name) + ": " + export_error->message());
            return kFailure;
        }
    }
    if (!images) {
        error(images.error().message());
        return kFailure;
    }
    std::vector<std::string> lines;
    auto built = store_archive(*store, *images, lines);
    if (!built) {
        error(built.error().message());
        return kFailure;
    }
    if (o.json) {
        json::array imgs;
        for (const auto& img : *images) {
            json::array refs, ids;
            for (const auto& r : img.refs) refs.emplace_back(escape(r));
            for (const auto& d : img.diff_ids) ids.emplace_back(d);
            imgs.push_back(json::object{{"refs", std::move(refs)}, {"config_digest", img.config_digest},
                                        {"manifest_digest", img.manifest_digest}, {"diff_ids", std::move(ids)}});
        }
        std::printf("%s\n", json::serialize(json::object{
                                {"images", std::move(imgs)}, {"layers", std::move(layer_json)},
                                {"seconds", stats.seconds}, {"archive_bytes", stats.archive_bytes},
                                {"uncompressed_bytes", stats.uncompressed_bytes}, {"files", stats.files}})
                                .c_str());
    } else {
        for (const auto& l : lines) std::printf("%s\n", l.c_str());
        print_stats(stats, layers);
    }
    return kOk;
}

int baseline_images(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    bool absent = false;
    auto store = open_store_read_only(*cfg, &absent);
    if (!store && !absent) return kFailure;
    auto images = store ? store->images() : std::vector<baseline::ImageRecord>{};
    if (o.json) {
        json::array out;
        for (const auto& i : images) {
            json::array ids;
            for (const auto& d : i.diff_ids) ids.emplace_back(d);
            json::object r{{"ref", escape(i.ref)}, {"config_digest", i.config_digest},
                           {"manifest_digest", i.manifest_digest}, {"diff_ids", std::move(ids)},
                           {"origin", i.origin}};
            if (!i.signed_by.empty()) r["signed_by"] = i.signed_by;
            out.push_back(std::move(r));
        }
        std::printf("%s\n", json::serialize(out).c_str());
        return kOk;
    }
    if (images.empty()) std::printf("no images (baseline build --image-archive FILE, or baseline import BUNDLE)\n");
    for (const auto& i : images)
        std::printf("%-40s %s %2zu layers  %-7s %s\n", escape(i.ref).c_str(), i.config_digest.substr(0, 19).c_str(),
                    i.diff_ids.size(), i.origin.c_str(),
                    i.signed_by.empty() ? "unsigned" : ("signed by " + i.signed_by.substr(0, 16)).c_str());
    return kOk;
}

int baseline_export(const Options& o) {
    if (o.output.empty()) {
        error("baseline export needs -o BUNDLE");
        return kFailure;
    }
    if (!o.all && o.containers.empty()) {
        error("baseline export needs image references (globs) or --all");
        return kFailure;
    }
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    bool absent = false;
    auto store = open_store_read_only(*cfg, &absent);
    if (!store) {
        if (absent) error("no baseline database at " + escape(cfg->baseline.database));
        return kFailure;
    }
    std::vector<baseline::ImageRecord> chosen;
    std::vector<std::string> unmatched = o.containers;
    for (const auto& img : store->images()) {
        bool take = o.all;
        for (const auto& want : o.containers) {
            if (img.ref == want || img.config_digest == want || ::fnmatch(want.c_str(), img.ref.c_str(), 0) == 0) {
                take = true;
                std::erase(unmatched, want);
            }
        }
        if (take) chosen.push_back(img);
    }
    for (const auto& u : unmatched) error("no image \"" + escape(u) + "\" in the database (layerlock baseline images)");
    if (!unmatched.empty() || chosen.empty()) {
        if (chosen.empty() && unmatched.empty()) error("no images in the database");
        return kFailure;
    }
    auto sum = baseline::export_bundle(*store, chosen, o.output);
    if (!sum) {
        error(sum.error().message());
        return kFailure;
    }
    if (o.json)
        std::printf("%s\n", json::serialize(json::object{{"bundle", escape(o.output)}, {"images", sum->images},
                                                         {"layers", sum->layers}, {"entries", sum->entries},
                                                         {"bytes", sum->bytes}})
                                .c_str());
    else
        std::printf("%s: %zu images, %zu layers, %llu entries, %llu bytes\n", escape(o.output).c_str(), sum->images,
                    sum->layers, static_cast<unsigned long long>(sum->entries),
                    static_cast<unsigned long long>(sum->bytes));
    return kOk;
}

int baseline_keygen(const Options& o) {
    if (o.output.empty()) {
        error("baseline keygen needs -o PREFIX (writes PREFIX.key and PREFIX.pub)");
        return kFailure;
    }
    auto id = baseline::generate_keypair(o.output + ".key", o.output + ".pub");
    if (!id) {
        error(id.error().message());
        return kFailure;
    }
    if (o.json)
        std::printf("%s\n", json::serialize(json::object{{"private_key", escape(o.output + ".key")},
                                                         {"public_key", escape(o.output + ".pub")},
                                                         {"key_id", *id}})
                                .c_str());
    else
        std::printf("%s.key (private, keep it in CI), %s.pub (give it to the hosts): key id %s\n",
                    escape(o.output).c_str(), escape(o.output).c_str(), id->c_str());
    return kOk;
}

int baseline_sign(const Options& o) {
    if (o.key.empty()) {
        error("baseline sign needs --key KEY");
        return kFailure;
    }
    const std::string sig = o.signature.empty() ? o.bundle + ".sig" : o.signature;
    auto id = baseline::sign_bundle(o.bundle, o.key, sig);
    if (!id) {
        error(id.error().message());
        return kFailure;
    }
    if (o.json)
        std::printf("%s\n", json::serialize(json::object{{"bundle", escape(o.bundle)}, {"signature", escape(sig)},
                                                         {"key_id", *id}})
                                .c_str());
    else
        std::printf("%s: signed by key %s\n", escape(sig).c_str(), id->c_str());
    return kOk;
}

int baseline_import(const Options& o) {
    auto cfg = load_config(o);
    if (!cfg) return kFailure;
    const std::string sig = o.signature.empty() ? o.bundle + ".sig" : o.signature;
    std::string signer;
    auto bundle = baseline::open_verified_bundle(o.bundle, sig, o.trust, &signer);
    if (!bundle) {
        error(bundle.error().message());
        return kNegative;   // refused: nothing was stored
    }
    auto store = open_store(*cfg);
    if (!store) return kFailure;
    for (const auto& l : bundle->layers) {
        auto st = store->store_content_layer(l.diff_id, l.entries, {"bundle", signer});
        if (!st) {
            error("layer " + l.diff_id + ": " + st.error().message());
            return kFailure;
        }
    }
    for (auto img : bundle->images) {
        img.origin = "bundle";
        img.signed_by = signer;
        if (auto r = store->store_image(img); !r) {
            error("image " + escape(img.ref) + ": " + r.error().message());
            return kFailure;
        }
    }
    if (o.json)
        std::printf("%s\n", json::serialize(json::object{{"bundle", escape(o.bundle)}, {"signed_by", signer},
                                                         {"images", bundle->images.size()},
                                                         {"layers", bundle->layers.size()}})
                                .c_str());
    else
        std::printf("%s: signature by key %s verified; %zu images, %zu layers imported\n", escape(o.bundle).c_str(),
                    signer.c_str(), bundle->images.size(), bundle->layers.size());
    return kOk;
}

}  // namespace layerlock::cli
