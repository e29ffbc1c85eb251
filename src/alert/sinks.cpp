// SPDX-License-Identifier: Apache-2.0
// The alert sinks. Every name that came from a container (path, comm, container
// name) is escaped before it reaches any output; journald fields carry the
// escaped form too, so `journalctl -o cat` can never print a raw control byte.
#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <vector>

#include "layerlock/alert/alerts.hpp"
#include "layerlock/alert/record.hpp"
#include "layerlock/base/escape.hpp"
#include "layerlock/base/unique_fd.hpp"

namespace layerlock::alert {

using base::escape;
using base::json_escape;

namespace {

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

// One record in one write(2) (O_APPEND keeps the lines of concurrent writers whole).
// After a short write the rest is written; when that is refused (a full disk: the
// short write's cause) the part written is taken back, so that a file holds whole
// lines only: a reader of JSON lines would stop at a cut one, or read it glued to
// the next.
base::Result<void> write_line(int fd, const std::string& line, const std::string& what) {
    std::size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(fd, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {   // the rest refused (ENOSPC, EFBIG...): what was written is taken back
            const int err = n < 0 ? errno : EIO;
            struct stat st{};
            if (done > 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= static_cast<off_t>(done))
                (void)::ftruncate(fd, st.st_size - static_cast<off_t>(done));
            return base::unexpected(base::Error::from_errno("write " + what, err));
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

// journald: the record's fields as LAYERLOCK_<KEY> (values escaped there), plus
// MESSAGE (the text line), PRIORITY and SYSLOG_IDENTIFIER. Container name, id and
// image say "unknown" when unknown (filterable); the record's own time and host
// name are journald's.
class JournaldSink final : public Sink {
public:
    std::string_view name() const override { return "journald"; }
    base::Result<void> write(const model::DriftEvent& ev) override {
        if (ev.quiet) return {};   // expected runtime changes: stored and in JSON lines only
        const auto rec = record(ev, {});
        std::vector<std::string> fields = {"MESSAGE=" + message(ev),
                                           "PRIORITY=" + std::to_string(model::syslog_priority(ev.severity)),
                                           "SYSLOG_IDENTIFIER=layerlockd"};
        for (const char* k : {"container_id", "container_name", "image"})
            if (!rec.contains(k)) fields.push_back("LAYERLOCK_" + upper(k) + "=unknown");
        for (const auto& [key, value] : rec) {
            if (key == "time" || key == "hostname" || (key == "count" && ev.count <= 1)) continue;
            fields.push_back("LAYERLOCK_" + upper(key) + "=" + text_of(value));
        }
        std::vector<iovec> iov;
        for (const auto& f : fields) iov.push_back({const_cast<char*>(f.data()), f.size()});
        if (int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size())); r < 0)
            return base::unexpected(base::Error::from_errno("sd_journal_sendv", -r));
        return {};
    }

private:
    static std::string upper(std::string_view k) {
        std::string out(k);
        for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return out;
    }
    // Strings as they are (escaped already), numbers and booleans as text, arrays
    // (tags, unknown) joined by ", ".
    static std::string text_of(const boost::json::value& v) {
        if (v.is_string()) return std::string(v.as_string());
        if (v.is_array()) {
            std::string out;
            for (const auto& item : v.as_array()) out += (out.empty() ? "" : ", ") + text_of(item);
            return out;
        }
        return boost::json::serialize(v);
    }
};

class StderrSink final : public Sink {
public:
    std::string_view name() const override { return "stderr"; }
    base::Result<void> write(const model::DriftEvent& ev) override {
        if (ev.quiet) return {};
        return write_line(STDERR_FILENO, "layerlockd: " + message(ev) + "\n", "stderr");
    }
};

class JsonLinesSink final : public Sink {
public:
    JsonLinesSink(base::UniqueFd fd, JsonFormat format, std::string path)
        : fd_(std::move(fd)), format_(format), path_(std::move(path)) {}
    std::string_view name() const override { return "json"; }
    base::Result<void> write(const model::DriftEvent& ev) override {
        // Falco emits alerts only: expected changes (quiet) stay in the layerlock format.
        if (format_ == JsonFormat::Falco && ev.quiet) return {};
        const auto rec = format_ == JsonFormat::Falco ? falco_record(ev, host_name()) : record(ev, host_name());
        return write_line(fd_.get(), boost::json::serialize(rec) + "\n", path_);  // O_APPEND: one write per record
    }

private:
    base::UniqueFd fd_;
    JsonFormat format_;
    std::string path_;
};

}  // namespace

// key=value pairs: every string that came from a container (or may hold a space)
// is quoted and escaped (base/escape.hpp: no unescaped '"', control byte or
// invalid UTF-8 survives), so no value can end its field or its line; closed
// vocabularies (kind, severity, action, runtime, change), numbers and hex digests
// are written bare.
namespace {
void quoted(std::string& m, std::string_view key, std::string_view value) {
    m += ' ';
    m += key;
    m += "=\"";
    m += escape(value);
    m += '"';
}
void bare(std::string& m, std::string_view key, std::string_view value) {
    m += ' ';
    m += key;
    m += '=';
    m += value;
}
}  // namespace

std::string message(const model::DriftEvent& ev) {
    std::string m = ev.kind + " drift " + ev.action + ":";
    bare(m, "severity", model::to_string(ev.severity));
    quoted(m, "reason", ev.reason);
    bare(m, "runtime", model::to_string(ev.runtime));
    quoted(m, "container", or_unknown(ev.container_name));
    quoted(m, "id", or_unknown(ev.container_id.substr(0, 12)));
    quoted(m, "image", or_unknown(ev.image));
    quoted(m, "path", ev.path);
    if (ev.pid > 0) {   // file drift has no process: nothing printed rather than pid=0 comm=""
        bare(m, "pid", std::to_string(ev.pid));
        quoted(m, "comm", ev.comm);
        if (!ev.parent_comm.empty()) quoted(m, "parent", ev.parent_comm);
    }
    if (!ev.exe.empty()) quoted(m, "exe", ev.exe);
    if (!ev.location.empty()) quoted(m, "location", ev.location);
    if (!ev.mount.empty()) quoted(m, "mount", ev.mount);
    if (!ev.cmdline.empty()) quoted(m, "cmdline", ev.cmdline);
    if (ev.uid >= 0) bare(m, "uid", std::to_string(ev.uid));
    if (!ev.k8s_pod.empty() || !ev.k8s_namespace.empty() || !ev.k8s_container.empty()) {
        quoted(m, "k8s_namespace", ev.k8s_namespace);
        quoted(m, "k8s_pod", ev.k8s_pod);
        quoted(m, "k8s_container", ev.k8s_container);
    }
    if (!ev.sha256.empty()) quoted(m, "sha256", ev.sha256);
    if (!ev.unknown.empty()) quoted(m, "unknown", ev.unknown);
    if (!ev.change.empty()) quoted(m, "change", ev.change);
    if (!ev.package.empty()) quoted(m, "package", ev.package);
    if (!ev.detail.empty()) quoted(m, "detail", ev.detail);
    if (ev.count > 1) bare(m, "count", std::to_string(ev.count));
    if (ev.last_ns) bare(m, "last_time", rfc3339(ev.last_ns));   // a summary of repeats
    return m;
}

std::string to_json(const model::DriftEvent& ev) { return boost::json::serialize(record(ev, host_name())); }

std::unique_ptr<Sink> journald_sink() { return std::make_unique<JournaldSink>(); }
std::unique_ptr<Sink> stderr_sink() { return std::make_unique<StderrSink>(); }

base::Result<std::unique_ptr<Sink>> json_lines_sink(const std::string& path, JsonFormat format) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return base::unexpected(base::Error::from_errno("open " + path));
    return std::unique_ptr<Sink>(std::make_unique<JsonLinesSink>(base::UniqueFd(fd), format, path));
}

}  // namespace layerlock::alert
