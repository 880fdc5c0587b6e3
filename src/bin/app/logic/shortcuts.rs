//! Keyboard shortcuts: space pauses or resumes training, digits 1–7 switch tabs. Keys typed into
//! a form field are the field's, and a key with Ctrl, Alt or Meta belongs to the browser.

/// What a key press does in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    PauseOrResume,
    /// The tab at this position (0-based) of the tab bar.
    Tab(usize),
}

/// The line the page shows, so every shortcut is discoverable.
pub const SHORTCUTS_HELP: &str =
    "Keyboard: space pauses or resumes training; 1–7 switch to the tabs in order.";

pub struct KeyPress<'a> {
    /// `KeyboardEvent.key`.
    pub key: &'a str,
    /// Ctrl, Alt or Meta held.
    pub modified: bool,
    /// The key went to a text field, a select or a button that uses it itself.
    pub in_field: bool,
}

pub fn shortcut(press: &KeyPress, tabs: usize) -> Option<Shortcut> {
    if press.modified || press.in_field {
        return None;
    }
    match press.key {
        " " => Some(Shortcut::PauseOrResume),
        key => {
            let digit: usize = key.parse().ok()?;
            (1..=tabs)
                .contains(&digit)
                .then(|| Shortcut::Tab(digit - 1))
        }
    }
}

/// Elements whose own keyboard handling wins (typing a 3 in the epochs field is not a tab
/// switch; space on a focused button presses that button).
pub fn is_field(tag_name: &str) -> bool {
    matches!(
        tag_name.to_ascii_uppercase().as_str(),
        "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(key: &str) -> KeyPress<'_> {
        KeyPress {
            key,
            modified: false,
            in_field: false,
        }
    }

    #[test]
    fn space_and_digits_act_only_outside_fields_and_without_modifiers() {
        assert_eq!(shortcut(&press(" "), 6), Some(Shortcut::PauseOrResume));
        assert_eq!(shortcut(&press("1"), 6), Some(Shortcut::Tab(0)));
        assert_eq!(shortcut(&press("6"), 6), Some(Shortcut::Tab(5)));
        for key in ["0", "7", "a", "Enter", "12"] {
            assert_eq!(shortcut(&press(key), 6), None, "{key:?}");
        }
        let typed = KeyPress {
            in_field: true,
            ..press("3")
        };
        assert_eq!(shortcut(&typed, 6), None);
        let browser = KeyPress {
            modified: true,
            ..press("2")
        };
        assert_eq!(shortcut(&browser, 6), None);
        assert!(is_field("input") && is_field("SELECT") && !is_field("CANVAS"));
    }
}
