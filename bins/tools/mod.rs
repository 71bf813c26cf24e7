//! The tools, one module each: an option table, and `run`.

pub mod depmod;
pub mod insmod;
pub mod logging;
pub mod lsmod;
pub mod modinfo;
pub mod modprobe;
pub mod rmmod;
pub mod static_nodes;

#[cfg(test)]
mod tests {
    use crate::getopt::{Opt, untyped};
    use crate::usage::Layout;

    /// Every help layout lists each option of its table that has a help text, once,
    /// and nothing else; every layout renders.
    #[test]
    fn help_layouts_cover_their_tables() {
        let tables: [(&str, Vec<Opt<()>>, Layout); 8] = [
            ("insmod", untyped(super::insmod::OPTS), super::insmod::HELP),
            ("rmmod", untyped(super::rmmod::OPTS), super::rmmod::HELP),
            ("lsmod", untyped(super::lsmod::OPTS), super::lsmod::HELP),
            (
                "modinfo",
                untyped(super::modinfo::OPTS),
                super::modinfo::HELP,
            ),
            (
                "modprobe",
                untyped(super::modprobe::OPTS),
                super::modprobe::HELP,
            ),
            ("depmod", untyped(super::depmod::OPTS), super::depmod::HELP),
            (
                "static-nodes",
                untyped(super::static_nodes::OPTS),
                super::static_nodes::HELP,
            ),
            (
                "kmod",
                untyped(crate::dispatch::OPTS),
                crate::dispatch::HELP,
            ),
        ];
        for (tool, table, layout) in tables {
            let mut listed: Vec<&str> = layout.names().collect();
            listed.sort_unstable();
            let mut expected: Vec<&str> = table
                .iter()
                .filter(|o| !o.help.is_empty())
                .filter_map(|o| o.long)
                .collect();
            expected.sort_unstable();
            assert_eq!(listed, expected, "{tool}");
            assert!(!layout.render(&table, tool).is_empty());
        }
    }
}
