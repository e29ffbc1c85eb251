// SPDX-License-Identifier: Apache-2.0
// Unit tests of the event record and its views (alert/record.hpp), alert
// deduplication (alert/dedup.hpp) and the metrics exposition (daemon/metrics.hpp).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <set>

#include "layerlock/alert/alerts.hpp"
#include "layerlock/alert/dedup.hpp"
#include "layerlock/alert/record.hpp"
#include "layerlock/baseline/events.hpp"
#include "layerlock/daemon/metrics.hpp"
#include "layerlock/process/procfs.hpp"
#include "test_support.hpp"

using namespace layerlock;
namespace json = boost::json;

namespace {

model::DriftEvent exec_drift() {
    model::DriftEvent e;
    e.kind = "binary";
    e.severity = model::Severity::Critical;
    e.action = "denied";
    e.reason = "new-file";
    e.runtime = model::Runtime::Docker;
    e.container_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    e.container_name = "web";
    e.image = "registry.example/web:1.2";
    e.image_id = "sha256:" + std::string(64, 'e');
    e.path = "/tmp/x";
    e.sha256 = std::string(64, 'd');
    e.pid = 42;
    e.ppid = 7;
    e.comm = "sh";
    e.parent_comm = "nginx";
    e.uid = 0;
    e.user = "root";
    e.time_ns = 1'764'915'668'123'456'789;
    e.time_us = e.time_ns / 1000;
    return e;
}

const std::set<std::string> kFalcoPriorities = {"Emergency", "Alert", "Critical", "Error",
                                                "Warning", "Notice", "Informational", "Debug"};

}  // namespace

TEST_CASE("the record carries the RFC 3339 nanosecond time, host, process and container context") {
    auto r = alert::record(exec_drift(), "host-1");
    CHECK(r["time"].as_string() == "2025-12-05T06:21:08.123456789Z");
    CHECK(r["hostname"].as_string() == "host-1");
    CHECK(r["rule"].as_string() == "Drop and execute new binary in container");
    CHECK(r["severity"].as_string() == "critical");
    CHECK(r["pid"].as_int64() == 42);
    CHECK(r["ppid"].as_int64() == 7);
    CHECK(r["user"].as_string() == "root");
    CHECK(r["count"].as_uint64() == 1);
    CHECK_FALSE(r.contains("last_time"));
    CHECK_FALSE(r.contains("unknown"));
    auto tags = r["tags"].as_array();
    CHECK(std::find(tags.begin(), tags.end(), json::value("T1105")) != tags.end());
    CHECK(std::find(tags.begin(), tags.end(), json::value("TA0011")) != tags.end());
}

TEST_CASE("file drift names what is unknown instead of empty process fields") {
    model::DriftEvent f;
    f.kind = "config";
    f.change = "modified";
    f.path = "/etc/passwd";
    f.reason = "sensitive-file";
    auto r = alert::record(f, "h");
    CHECK_FALSE(r.contains("pid"));
    CHECK_FALSE(r.contains("comm"));
    CHECK(r["rule"].as_string() == "Write below etc");
    const auto line = alert::message(f);   // the text line (journald MESSAGE, stderr) too
    CHECK(line.find("pid=") == std::string::npos);
    CHECK(line.find("comm=") == std::string::npos);
    CHECK(line.find("parent=") == std::string::npos);
    CHECK(line.find("path=\"/etc/passwd\"") != std::string::npos);
    auto ex = exec_drift();
    ex.pid = 0;
    ex.sha256.clear();
    ex.unknown = "sha256";
    auto u = alert::record(ex, "h")["unknown"].as_array();
    CHECK(std::find(u.begin(), u.end(), json::value("sha256")) != u.end());
    CHECK(std::find(u.begin(), u.end(), json::value("process")) != u.end());
}

TEST_CASE("the falco line has what falcosidekick requires and Falco's field names") {
    auto f = alert::falco_record(exec_drift(), "host-1");
    for (const char* k : {"time", "rule", "priority", "output", "output_fields", "source", "tags", "hostname"})
        CHECK_MESSAGE(f.contains(k), k);
    CHECK(kFalcoPriorities.count(std::string(f["priority"].as_string())) == 1);
    CHECK(f["priority"].as_string() == "Critical");
    CHECK(f["rule"].as_string() == "Drop and execute new binary in container");
    const auto& of = f["output_fields"].as_object();
    CHECK(of.at("container.id").as_string() == "0123456789ab");
    CHECK(of.at("container.name").as_string() == "web");
    CHECK(of.at("container.image.repository").as_string() == "registry.example/web");
    CHECK(of.at("container.image.tag").as_string() == "1.2");
    CHECK(of.at("container.image.digest").as_string() == "sha256:" + std::string(64, 'e'));
    CHECK(of.at("proc.name").as_string() == "x");          // the program whose exec was gated
    CHECK(of.at("proc.exepath").as_string() == "/tmp/x");
    CHECK(of.at("proc.pname").as_string() == "nginx");
    CHECK(of.at("proc.pid").as_int64() == 42);
    CHECK(of.at("user.name").as_string() == "root");
    CHECK(of.at("layerlock.action").as_string() == "denied");
    CHECK(of.at("layerlock.sha256").as_string() == std::string(64, 'd'));
    CHECK(std::string(f["output"].as_string()).rfind("Drop and execute new binary in container (", 0) == 0);
    for (auto sev : {model::Severity::Info, model::Severity::Low, model::Severity::Medium, model::Severity::High,
                     model::Severity::Critical})
        CHECK(kFalcoPriorities.count(std::string(alert::falco_priority(sev))) == 1);
}

TEST_CASE("hostile names are escaped in every view") {
    auto e = exec_drift();
    e.path = "/tmp/\x1b[31mred\"\n";
    e.container_name = "a\"b";
    auto line = json::serialize(alert::record(e, "h"));
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.find('\n') == std::string::npos);
    auto msg = alert::message(e);
    CHECK(msg.find('\x1b') == std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find("container=\"a\\\"b\"") != std::string::npos);
    auto falco = json::serialize(alert::falco_record(e, "h"));
    CHECK(falco.find('\x1b') == std::string::npos);
}

TEST_CASE("repeats of one alert within the window go out once, then as one summary with the total count") {
    using Clock = alert::Deduper::Clock;
    alert::Deduper d(std::chrono::seconds(300));
    const auto t0 = Clock::now();
    auto e = exec_drift();
    CHECK(d.admit(e, t0));
    for (int i = 1; i < 50; ++i) {
        auto r = e;
        r.time_ns += i * 1'000'000;
        CHECK_FALSE(d.admit(r, t0 + std::chrono::seconds(i)));
    }
    auto other = e;
    other.path = "/tmp/y";
    CHECK(d.admit(other, t0 + std::chrono::seconds(1)));   // another file: its own window
    CHECK(d.due(t0 + std::chrono::seconds(299)).empty());
    REQUIRE(d.next_due());
    auto s = d.due(t0 + std::chrono::seconds(301));
    REQUIRE(s.size() == 1);   // the lone /tmp/y closes silently
    CHECK(s[0].count == 50);
    CHECK(s[0].path == "/tmp/x");
    CHECK(s[0].time_ns == e.time_ns);                 // the first occurrence's time
    CHECK(s[0].last_ns == e.time_ns + 49 * 1'000'000);
    CHECK(d.suppressed() == 49);
    CHECK(d.open_windows() == 0);
    CHECK(d.admit(e, t0 + std::chrono::seconds(302)));   // a new window alerts at once again
}

TEST_CASE("deduplication keys on the action and content, is off at 0 and flushes on stop") {
    using Clock = alert::Deduper::Clock;
    const auto t0 = Clock::now();
    alert::Deduper off(std::chrono::seconds(0));
    auto e = exec_drift();
    CHECK(off.admit(e, t0));
    CHECK(off.admit(e, t0));
    alert::Deduper d(std::chrono::seconds(60));
    CHECK(d.admit(e, t0));
    auto allowed = e;
    allowed.action = "alerted";
    CHECK(d.admit(allowed, t0));
    auto changed = e;
    changed.sha256 = std::string(64, 'f');
    CHECK(d.admit(changed, t0));
    CHECK_FALSE(d.admit(e, t0));
    auto all = d.due(t0, true);
    REQUIRE(all.size() == 1);
    CHECK(all[0].count == 2);
    alert::Deduper tiny(std::chrono::seconds(60), 1);
    CHECK(tiny.admit(e, t0));
    CHECK(tiny.admit(changed, t0));   // no room for another window: delivered, counted
    CHECK(tiny.overflow() == 1);
}

namespace {
// Written by the queue's thread, read by the test's: `collected` guards both.
std::mutex collected;
std::size_t size_of(const std::vector<model::DriftEvent>& v) {
    std::lock_guard lock(collected);
    return v.size();
}
class Collect final : public alert::Sink {
public:
    Collect(std::vector<model::DriftEvent>& into, bool every) : into_(into), every_(every) {}
    base::Result<void> write(const model::DriftEvent& ev) override {
        std::lock_guard lock(collected);
        into_.push_back(ev);
        return {};
    }
    std::string_view name() const override { return "collect"; }
    bool sees_repeats() const override { return every_; }

private:
    std::vector<model::DriftEvent>& into_;
    bool every_;
};
}  // namespace

TEST_CASE("the alert queue gives response sinks every occurrence and the others the first and the summary") {
    std::vector<model::DriftEvent> outputs, responses;
    {
        alert::AlertQueue q(1024, std::chrono::seconds(1));
        q.add_sink(std::make_unique<Collect>(outputs, false));
        q.add_sink(std::make_unique<Collect>(responses, true));
        q.start();
        for (int i = 0; i < 50; ++i) q.publish(exec_drift());
        for (int i = 0; i < 200 && size_of(outputs) < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        q.stop();
        CHECK(q.suppressed() == 49);
        CHECK(q.summaries() == 1);
    }
    REQUIRE(outputs.size() == 2);
    CHECK(outputs[0].count == 1);
    CHECK(outputs[0].last_ns == 0);
    CHECK(outputs[1].count == 50);
    CHECK(outputs[1].last_ns != 0);
    CHECK(responses.size() == 51);   // every occurrence, and the summary (the responder skips summaries)
}

TEST_CASE("publish drops when the queue is full, publish_wait waits for room and loses nothing") {
    std::vector<model::DriftEvent> out;
    alert::AlertQueue q(16);   // no deduplication: every event is delivered
    q.add_sink(std::make_unique<Collect>(out, false));
    auto event = [](int i) {
        auto e = exec_drift();
        e.path = "/tmp/f" + std::to_string(i);
        return e;
    };
    for (int i = 0; i < 16; ++i) q.publish(event(i));
    q.publish(event(99));   // full, not started: dropped
    CHECK(q.dropped() == 1);
    std::atomic<bool> cancel{true};
    CHECK_FALSE(q.publish_wait(event(98), &cancel));   // cancelled: not queued
    std::atomic<int> queued{0};
    std::thread producer([&] {
        for (int i = 16; i < 200; ++i) queued += q.publish_wait(event(i)) ? 1 : 0;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(queued.load() == 0);   // waiting for room
    q.start();
    producer.join();
    q.stop();
    CHECK(queued.load() == 184);
    CHECK(out.size() == 200);
    CHECK(q.dropped() == 1);
}

namespace {
// Refuses the writes whose index is in `refuse` (0-based), writes the others.
class Flaky final : public alert::Sink {
public:
    explicit Flaky(std::set<int> refuse) : refuse_(std::move(refuse)) {}
    base::Result<void> write(const model::DriftEvent&) override {
        if (refuse_.count(n_++)) return base::unexpected(base::Error::from_errno("write", ENOSPC));
        return {};
    }
    std::string_view name() const override { return "flaky"; }

private:
    std::set<int> refuse_;
    int n_ = 0;
};

model::DriftEvent numbered(int i) {
    auto e = exec_drift();
    e.path = "/tmp/f" + std::to_string(i);
    return e;
}

struct Report {
    std::string sink, why;
    bool failing;
};
}  // namespace

TEST_CASE("a failing sink is counted per alert and reported once when it fails and once when it writes again") {
    std::vector<model::DriftEvent> others;
    std::vector<Report> reports;   // the alert thread's until stop() joins it
    alert::AlertQueue q(64);
    q.add_sink(std::make_unique<Flaky>(std::set<int>{2, 3, 4, 7}));
    q.add_sink(std::make_unique<Collect>(others, false));
    q.set_failure_reporter([&](std::string_view sink, const base::Error& why, bool failing) {
        reports.push_back({std::string(sink), why.message(), failing});
    });
    for (int i = 0; i < 10; ++i) q.publish(numbered(i));
    q.start();
    q.stop();
    CHECK(q.sink_failures() == 4);
    CHECK(others.size() == 10);   // the other sinks lose nothing
    REQUIRE(reports.size() == 4);   // fails (2), writes again (5), fails (7), writes again (8)
    CHECK(reports[0].sink == "flaky");
    CHECK(reports[0].failing);
    CHECK(reports[0].why.find("No space left") != std::string::npos);
    CHECK_FALSE(reports[1].failing);
    CHECK(reports[2].failing);
    CHECK_FALSE(reports[3].failing);
}

TEST_CASE("the JSON lines sink reports a full disk instead of losing alerts silently") {
    auto sink = alert::json_lines_sink("/dev/full");   // every write: ENOSPC
    REQUIRE(sink);
    auto written = (*sink)->write(exec_drift());
    REQUIRE_FALSE(written);
    CHECK(written.error().message().find("/dev/full") != std::string::npos);
    CHECK(written.error().message().find("No space left") != std::string::npos);
}

TEST_CASE("the event-table sink reports a database it cannot open or write, and recovers when it can") {
    layerlock::test::TempDir dir;
    const auto state = dir.path() / "state";
    { std::ofstream(state) << "a file where the state directory should be"; }   // the database cannot be created
    const auto db = (state / "layerlock.db").string();
    auto sink = alert::event_store_sink(db, config::EventConfig{});
    auto first = sink->write(numbered(1));
    REQUIRE_FALSE(first);
    CHECK(first.error().message().find(db) != std::string::npos);

    std::filesystem::remove(state);
    std::filesystem::create_directory(state);
    REQUIRE(sink->write(numbered(2)));   // opened now
    // The table gone from under it (another process, a damaged file): refused, then
    // written again once the database is whole.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &other) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "DROP TABLE events", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    CHECK_FALSE(sink->write(numbered(3)));
    std::filesystem::remove(db);
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");
    REQUIRE(sink->write(numbered(4)));
    auto events = baseline::EventStore::open(db, baseline::Access::ReadOnly);
    REQUIRE(events);
    auto rows = events->query({});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].event.path == "/tmp/f4");
}

TEST_CASE("the metrics exposition names every family layerlock_ with HELP and TYPE, and sums histogram buckets") {
    daemon::MetricsSnapshot m;
    m.exec_events = 10;
    m.open_events = 5;
    m.allowed = 12;
    m.denied = 3;
    m.fallback = {{"timeout", 1}};
    m.containers[{"docker", "enforce"}] = 2;
    m.latency_bounds_seconds = {0.001, 0.01};
    m.latency_buckets = {4, 2, 1};
    m.latency_sum_seconds = 0.5;
    m.cache_hits = 3;
    m.cache_misses = 1;
    const auto text = daemon::metrics_text(m);
    CHECK(text.find("# TYPE layerlock_gate_events_total counter") != std::string::npos);
    CHECK(text.find("layerlock_gate_events_total{event=\"exec\"} 10") != std::string::npos);
    CHECK(text.find("layerlock_gate_answers_total{answer=\"deny\"} 3") != std::string::npos);
    CHECK(text.find("layerlock_gate_fallback_answers_total{reason=\"timeout\"} 1") != std::string::npos);
    CHECK(text.find("layerlock_gate_fallback_answers_total{reason=\"overload\"} 0") != std::string::npos);
    CHECK(text.find("layerlock_containers{mode=\"enforce\",runtime=\"docker\"} 2") != std::string::npos);
    CHECK(text.find("layerlock_gate_answer_seconds_bucket{le=\"0.01\"} 6") != std::string::npos);
    CHECK(text.find("layerlock_gate_answer_seconds_bucket{le=\"+Inf\"} 7") != std::string::npos);
    CHECK(text.find("layerlock_gate_answer_seconds_count 7") != std::string::npos);
    CHECK(text.find("layerlock_verdict_cache_hit_ratio 0.75") != std::string::npos);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line[0] != '#') CHECK_MESSAGE(line.rfind("layerlock_", 0) == 0, line);
}

TEST_CASE("a user name is read from passwd text by uid") {
    const std::string passwd = "root:x:0:0:root:/root:/bin/sh\nbad line\n:x:5:5::/:/bin/sh\nweb:x:1000:1000::/:/bin/sh\n";
    CHECK(process::user_in_passwd(passwd, 0) == "root");
    CHECK(process::user_in_passwd(passwd, 1000) == "web");
    CHECK(process::user_in_passwd(passwd, 100).empty());
    CHECK(process::user_in_passwd(passwd, 5).empty());
    CHECK(process::user_in_passwd(passwd, -1).empty());
}
