//! Relations between units (Before=, BindsTo=, PartOf=, Requisite=,
//! Conflicts=, OnFailure=, OnSuccess=, PropagatesStopTo=) and targets as
//! synchronisation points, as the loader lowers them; the native keys.

use super::tests::load_dir_files;
use super::*;

fn service<'l>(l: &'l Loaded, name: &str) -> &'l ServiceSpec {
    (l.config.services.iter())
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

#[test]
fn relations_lower_onto_both_sides_and_targets_keep_the_order_through_them() {
    let (_t, r) = load_dir_files(&[
        (
            "db.service",
            "[Unit]\nBefore=app.service\nPropagatesStopTo=app.service\n[Service]\nExecStart=/bin/db\n",
        ),
        (
            "net.service",
            "[Unit]\nBefore=network-online.target\n[Service]\nExecStart=/bin/net\n",
        ),
        (
            "app.service",
            "[Unit]\nAfter=network-online.target\nWants=network-online.target\nBindsTo=db.service\nPartOf=db.service\nRequisite=db.service\nConflicts=other.service\nOnFailure=alert.service\nOnSuccess=alert.service\nUpholds=db.service\nJoinsNamespaceOf=db.service\n[Service]\nExecStart=/bin/app\n",
        ),
        ("alert.service", "[Service]\nExecStart=/bin/alert\n"),
        ("other.service", "[Service]\nExecStart=/bin/other\n"),
        ("late.service", "[Service]\nExecStart=/bin/late\n"),
        (
            "network-online.target",
            "[Unit]\nDescription=Network is Online\nWants=wait.service gone.service\nBefore=late.service\n",
        ),
        ("wait.service", "[Service]\nExecStart=/bin/wait\n"),
    ]);
    let l = r.expect("valid");
    let app = service(&l, "app");
    let sorted = |l: &[String]| {
        let mut l = l.to_vec();
        l.sort();
        l
    };
    assert_eq!(
        sorted(&app.after),
        ["db", "net", "wait"],
        "through the target"
    );
    assert_eq!(app.wants, ["wait"]);
    assert_eq!(app.binds_to, ["db"]);
    assert_eq!(app.part_of, ["db"]);
    assert_eq!(app.requisite, ["db"]);
    assert_eq!(app.conflicts, ["other"]);
    assert_eq!(app.on_failure, ["alert"]);
    assert_eq!(app.on_success, ["alert"]);
    assert_eq!(app.stop_propagated_from, ["db"]);
    assert_eq!(sorted(&service(&l, "late").after), ["net", "wait"]);
    let warned: Vec<String> = l.warnings.iter().map(|d| d.message.clone()).collect();
    for k in ["Upholds", "JoinsNamespaceOf"] {
        assert!(
            warned
                .iter()
                .any(|m| m.contains(&format!("{k}: not supported yet"))),
            "{warned:#?}"
        );
    }
}

#[test]
fn native_relation_keys_and_before() {
    let (_t, r) = load_dir_files(&[
        (
            "a.toml",
            "exec = 'a'\nbefore = ['b']\nconflicts = 'c'\non-failure = ['c']\n",
        ),
        ("b.toml", "exec = 'b'\npart-of = 'a'\n"),
        ("c.toml", "exec = 'c'\nbinds-to = ['nope']\n"),
    ]);
    let e = r.expect_err("unknown name");
    let shown = e;
    assert!(
        shown
            .iter()
            .any(|m| m.contains("binds-to: unknown service `nope`")),
        "{shown:#?}"
    );
    let (_t, r) = load_dir_files(&[
        (
            "a.toml",
            "exec = 'a'\nbefore = ['b']\nconflicts = 'c'\non-failure = ['c']\n",
        ),
        ("b.toml", "exec = 'b'\npart-of = 'a'\n"),
        ("c.toml", "exec = 'c'\n"),
    ]);
    let l = r.expect("valid");
    assert_eq!(service(&l, "b").after, ["a"]);
    assert_eq!(service(&l, "b").part_of, ["a"]);
    assert_eq!(service(&l, "a").conflicts, ["c"]);
}
