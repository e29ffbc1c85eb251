// SPDX-License-Identifier: Apache-2.0
// layerlock: the operator's command line. A table of verbs; the offline verbs
// (config check, baseline, scan, events) work without the daemon. Exit status:
// 0 success, 1 the verb's negative answer, 2 usage or error (verbs.hpp).
// --config is accepted before or after the verb. Files the CLI creates (the
// database when a verb builds a baseline) are root-only: umask 077.
#include <sys/stat.h>

#include <CLI/CLI.hpp>

#include <cstdio>

#include "verbs.hpp"

namespace {

using namespace layerlock::cli;

struct Verb {
    CLI::App* app;
    int (*run)(const Options&);
};

// Usage errors look like every other error: "layerlock: ...", exit 2.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
    error(e.what());
    std::fprintf(stderr, "Run \"%s --help\" for usage.\n", app.get_name().c_str());
    return kFailure;
}

void add_json(CLI::App* verb, Options& opt, const char* what = "JSON output") { verb->add_flag("--json", opt.json, what); }

}  // namespace

int main(int argc, char** argv) {
    ::umask(077);
    CLI::App app{"layerlock: container drift detection and blocking", "layerlock"};
    app.set_version_flag("-V,--version", std::string("layerlock ") + LAYERLOCK_VERSION);
    app.require_subcommand(1);
    app.fallthrough();   // inherited by every verb: options of the main command (--config) also after the verb
    Options opt;
    auto* config_opt = app.add_option("-c,--config", opt.config, "configuration file")->capture_default_str();
    std::vector<Verb> verbs;

    auto* cfg = app.add_subcommand("config", "configuration verbs");
    cfg->require_subcommand(1);
    auto* check = cfg->add_subcommand("check", "validate a configuration file without starting");
    check->add_option("file", opt.check_file, "file to check")->required();
    add_json(check, opt);
    verbs.push_back({check, config_check});

    auto* base = app.add_subcommand("baseline", "image layer baseline");
    base->require_subcommand(1);
    auto* build = base->add_subcommand("build", "hash the layers of running containers, or of an image");
    build->add_flag("--all", opt.all, "every running container");
    build->add_option("containers", opt.containers, "container names or ids");
    build->add_option("--image-archive", opt.image_archive,
                      "a docker save tarball or an OCI image layout (directory or tar), read without an engine");
    build->add_option("--image", opt.image_name, "an image the local Docker engine holds (exported, not run)");
    add_json(build, opt);
    verbs.push_back({build, baseline_build});
    auto* imgs = base->add_subcommand("images", "images whose baselines were made from the image or a bundle");
    add_json(imgs, opt);
    verbs.push_back({imgs, baseline_images});
    auto* exp = base->add_subcommand("export", "write a bundle of images' baselines, to sign and ship");
    exp->add_option("images", opt.containers, "image references or globs (see baseline images)");
    exp->add_flag("--all", opt.all, "every image");
    exp->add_option("-o,--output", opt.output, "the bundle file to create")->required();
    add_json(exp, opt);
    verbs.push_back({exp, baseline_export});
    auto* kg = base->add_subcommand("keygen", "create an Ed25519 key pair: PREFIX.key and PREFIX.pub");
    kg->add_option("-o,--output", opt.output, "PREFIX")->required();
    add_json(kg, opt);
    verbs.push_back({kg, baseline_keygen});
    auto* sg = base->add_subcommand("sign", "sign a bundle (writes BUNDLE.sig)");
    sg->add_option("bundle", opt.bundle, "the bundle")->required();
    sg->add_option("--key", opt.key, "the private key (PEM)")->required();
    sg->add_option("--signature", opt.signature, "where to write the signature (default BUNDLE.sig)");
    add_json(sg, opt);
    verbs.push_back({sg, baseline_sign});
    auto* im = base->add_subcommand("import", "verify a signed bundle and load its baselines");
    im->add_option("bundle", opt.bundle, "the bundle")->required();
    im->add_option("--trust", opt.trust, "a trusted public key (PEM); repeatable")->required();
    im->add_option("--signature", opt.signature, "its signature (default BUNDLE.sig)");
    add_json(im, opt);
    verbs.push_back({im, baseline_import});
    auto* show = base->add_subcommand("show", "the image's files as the baseline holds them");
    show->add_option("container", opt.container, "container name or id")->required();
    show->add_option("path", opt.path, "one path inside the container");
    add_json(show, opt);
    verbs.push_back({show, baseline_show});

    auto* st = app.add_subcommand("status", "the running daemon: mode, containers, counters");
    add_json(st, opt);
    verbs.push_back({st, status});
    auto* rl = app.add_subcommand("reload", "reload the daemon's configuration (refused if invalid)");
    add_json(rl, opt);
    verbs.push_back({rl, reload});
    auto* md = app.add_subcommand("mode", "live per-container mode; survives reload until cleared");
    md->add_option("container", opt.container, "container name or id")->required();
    md->add_option("mode", opt.mode, "monitor, enforce, learn or clear")->required()
        ->check(CLI::IsMember({"monitor", "enforce", "learn", "clear"}));
    add_json(md, opt);
    verbs.push_back({md, mode});

    auto* sc = app.add_subcommand("scan", "drift report from each container's writable layer (no daemon needed)");
    sc->add_option("containers", opt.containers, "container names or ids (default: all)");
    add_json(sc, opt);
    sc->add_option("--min-severity", opt.min_severity, "report from this severity up (info low medium high critical)")
        ->capture_default_str();
    verbs.push_back({sc, scan});

    auto* ev = app.add_subcommand("events", "drift events the daemon recorded (no daemon needed)");
    ev->add_option("--since", opt.since, "only events newer than this age: 30s, 15m, 1h, 7d");
    ev->add_option("--container", opt.container_filter, "container name or id prefix");
    ev->add_option("--kind", opt.kind, "binary, script, library, file, config, package, shell, fileless, network "
                                       "or response")
        ->check(CLI::IsMember({"binary", "script", "library", "file", "config", "package", "shell", "fileless",
                               "network", "response"}));
    auto* ev_min = ev->add_option("--min-severity", opt.min_severity, "info low medium high critical");
    ev_min->default_str("info");
    add_json(ev, opt, "one JSON object per line");
    ev->add_flag("-f,--follow", opt.follow, "keep printing new events");
    verbs.push_back({ev, events});

    auto* th = app.add_subcommand("thaw", "unfreeze a container a response froze");
    th->add_option("container", opt.container, "container name or id")->required();
    add_json(th, opt);
    verbs.push_back({th, thaw});

    auto* qr = app.add_subcommand("quarantine", "samples of drifted files kept by a response");
    qr->require_subcommand(1);
    auto* ql = qr->add_subcommand("list", "the kept samples");
    add_json(ql, opt);
    verbs.push_back({ql, quarantine_list});
    auto* qe = qr->add_subcommand("export", "copy a sample out (never overwrites)");
    qe->add_option("sha256", opt.sha256, "the sample's SHA-256")->required();
    qe->add_option("dest", opt.dest, "file to create")->required();
    add_json(qe, opt);
    verbs.push_back({qe, quarantine_export});

    auto* fo = app.add_subcommand("forensics", "forensics bundles written by a response");
    fo->require_subcommand(1);
    auto* fl = fo->add_subcommand("list", "the bundles and what each holds");
    add_json(fl, opt);
    verbs.push_back({fl, forensics_list});

    auto* al = app.add_subcommand("allowlist", "exceptions from what learn mode recorded");
    al->require_subcommand(1);
    auto* as = al->add_subcommand("suggest", "print [[exec_allow]], [[allow]], [[behaviour_allow]] and [[listen]] "
                                             "blocks for the learned drift (no daemon needed)");
    as->add_option("--image", opt.image_filter, "only events of images matching this glob");
    as->add_option("--container", opt.container_filter, "container name or id prefix");
    as->add_option("--since", opt.since, "only events newer than this age: 30s, 15m, 1h, 7d");
    verbs.push_back({as, allowlist_suggest});

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return usage_error(app, e);
    }
    opt.config_given = config_opt->count() > 0;
    if (ev->parsed() && ev_min->count() == 0) opt.min_severity = "info";
    try {
        for (const auto& v : verbs)
            if (v.app->parsed()) return v.run(opt);
    } catch (const std::exception& e) {
        error(e.what());
        return kFailure;
    }
    return kFailure;
}
