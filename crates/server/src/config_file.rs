//! `iamd serve --config FILE`: serve's settings from a TOML file, each under its flag's long
//! name (`listen = "0.0.0.0:8080"`, `mfa-max-failures = 5`, `require-mfa-enrolment = true`).
//!
//! Each file value becomes its argument's default before clap parses the command line, so clap's
//! own order gives flag > environment variable > file > built-in default, and a file value is
//! checked by the same value parser as the flag.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::builder::Resettable;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use crate::config::Cli;

const SERVE: &str = "serve";
/// The id of `ServeArgs::config`.
const CONFIG_ARG: &str = "config";

/// Parses `iamd`'s command line (`std::env::args_os()`), with `serve`'s config file if one is
/// named. Errors are clap's, to be shown with `clap::Error::exit`: usage errors, `--help`,
/// `--version`, and a config file that cannot be used.
pub fn parse_command_line(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    parse_with(Cli::command(), args.into_iter().collect())
}

fn parse_with(command: Command, args: Vec<OsString>) -> Result<Cli, clap::Error> {
    let mut command = match config_path(&command, &args) {
        Some(path) => with_config_file(command, &path)?,
        None => command,
    };
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// The file `serve --config` or IAMD_CONFIG names. This first look forgives what the real parse
/// refuses, since the file itself may hold a required setting (`data-dir`); whatever it cannot
/// read is left to the real parse, which then runs without a file: so does `--help`, which
/// therefore never shows a file's values (secrets among them) as defaults.
fn config_path(command: &Command, args: &[OsString]) -> Option<PathBuf> {
    let matches = command.clone().ignore_errors(true).try_get_matches_from(args).ok()?;
    matches.subcommand_matches(SERVE)?.get_one::<PathBuf>(CONFIG_ARG).cloned()
}

/// `command` with the file's values as serve's defaults.
fn with_config_file(command: Command, path: &Path) -> Result<Command, clap::Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| file_error(ErrorKind::Io, path, format!("cannot be read: {e}")))?;
    let table: toml::Table =
        text.parse().map_err(|e| file_error(ErrorKind::InvalidValue, path, invalid_toml(&text, &e)))?;
    let serve = command.find_subcommand(SERVE).expect("iamd has a serve subcommand");
    let mut defaults = Vec::with_capacity(table.len());
    for (key, value) in &table {
        let Some(arg) = settable(serve).find(|arg| arg.get_long() == Some(key.as_str())) else {
            return Err(file_error(ErrorKind::UnknownArgument, path, unknown_key(serve, key)));
        };
        let text = value_text(arg, value)
            .map_err(|problem| file_error(ErrorKind::InvalidValue, path, format!("`{key}`: {problem}")))?;
        defaults.push((arg.get_id().clone(), text));
    }
    // clap counts only flags and environment variables as given, so a group the file completes
    // (`data-dir` or `database-url`) must stop being required.
    let completed_groups: Vec<_> = serve
        .get_groups()
        .filter(|group| group.is_required_set() && group.get_args().any(|id| defaults.iter().any(|(set, _)| set == id)))
        .map(|group| group.get_id().clone())
        .collect();
    Ok(command.mut_subcommand(SERVE, |mut serve| {
        for (id, text) in defaults {
            serve = serve.mut_arg(id, |arg| arg.default_value(text));
        }
        for id in completed_groups {
            serve = serve.mut_group(id, |group| group.required(false));
        }
        serve
    }))
}

/// The arguments a file may set: those with a long flag that take one value or are on/off.
fn settable(serve: &Command) -> impl Iterator<Item = &Arg> {
    serve.get_arguments().filter(|arg| {
        arg.get_id() != CONFIG_ARG
            && arg.get_long().is_some()
            && matches!(arg.get_action(), ArgAction::Set | ArgAction::SetTrue)
    })
}

/// A file value as the text its flag would be given, checked by the flag's own value parser.
/// An on/off flag takes only a TOML boolean; a valued one a string or an integer.
fn value_text(arg: &Arg, value: &toml::Value) -> Result<String, String> {
    let takes_value = arg.get_action().takes_values();
    let text = match value {
        toml::Value::Boolean(on) if !takes_value => return Ok(on.to_string()),
        toml::Value::String(text) if takes_value => text.clone(),
        toml::Value::Integer(number) if takes_value => number.to_string(),
        other if takes_value => return Err(format!("must be a string or an integer, not a TOML {}", other.type_str())),
        other => return Err(format!("must be true or false, not a TOML {}", other.type_str())),
    };
    // The argument alone in a command of its own: its value parser runs as for `--flag=text`,
    // without the other arguments it may require.
    let probe = Command::new("iamd-config")
        .no_binary_name(true)
        .arg(arg.clone().env(Resettable::Reset).requires(Resettable::Reset));
    let long = arg.get_long().unwrap_or_default();
    match probe.try_get_matches_from([format!("--{long}={text}")]) {
        Ok(_) => Ok(text),
        Err(refusal) => Err(clap_message(&refusal)),
    }
}

/// A clap error's text without its `error: ` prefix and `--help` tip, on one line.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .collect();
    let joined = lines.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

fn unknown_key(serve: &Command, key: &str) -> String {
    let keys: Vec<&str> = settable(serve).filter_map(Arg::get_long).collect();
    // Stricter than clap's 0.7 for "did you mean", which pairs `serve` with `master-key`.
    let nearest = keys
        .iter()
        .map(|known| (strsim::jaro(key, known), known))
        .filter(|(similarity, _)| *similarity > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let suggestion = nearest.map(|(_, known)| format!(" (did you mean `{known}`?)")).unwrap_or_default();
    format!("unknown key `{key}`{suggestion}; the keys are `iamd serve`'s long flags: {}", keys.join(", "))
}

/// The parser's message at a line and column; never the line itself, which may hold a secret.
fn invalid_toml(text: &str, error: &toml::de::Error) -> String {
    let place = error.span().and_then(|span| text.get(..span.start)).map(|before| {
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        format!(" at line {line}, column {column}")
    });
    format!("invalid TOML{}: {}", place.unwrap_or_default(), error.message())
}

fn file_error(kind: ErrorKind, path: &Path, problem: String) -> clap::Error {
    clap::Error::raw(kind, format!("config file {}: {problem}\n", path.display()))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::config::{Command as Subcommand, LogFormat, ServeArgs};

    /// The command without its environment variables: the tests give the file and flags only,
    /// whatever the environment they run in (the black-box suite covers the variables).
    fn command() -> Command {
        Cli::command().mut_subcommand(SERVE, |serve| serve.mut_args(|arg| arg.env(Resettable::Reset)))
    }

    fn config(contents: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), contents).unwrap();
        file
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        parse_with(command(), std::iter::once("iamd").chain(args.iter().copied()).map(OsString::from).collect())
    }

    fn serve(args: &[&str]) -> ServeArgs {
        match parse(args).unwrap_or_else(|e| panic!("{e}")).command {
            Subcommand::Serve(args) => args,
            _ => panic!("not serve"),
        }
    }

    fn refusal(file: &tempfile::NamedTempFile) -> (ErrorKind, String) {
        let error = parse(&["serve", "--config", file.path().to_str().unwrap()]).err().expect("refused");
        let message = error.to_string();
        assert!(message.contains(&file.path().display().to_string()), "{message}");
        (error.kind(), message)
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn file_values_replace_the_built_in_defaults() {
        let file = config(
            "listen = \"0.0.0.0:9090\"\ndata-dir = \"/var/lib/iamd\"\nmfa-max-failures = 5\n\
             require-mfa-enrolment = true\nlog-format = \"json\"\nroot-access-key-id = \"AKIAFROMFILE00000001\"\n\
             root-secret-access-key = \"file-secret\"\n",
        );
        let args = serve(&["serve", "--config", file.path().to_str().unwrap()]);
        assert_eq!(args.listen, addr("0.0.0.0:9090"));
        assert_eq!(args.data_dir, Some(PathBuf::from("/var/lib/iamd")));
        assert_eq!(args.mfa_max_failures, 5);
        assert!(args.require_mfa_enrolment);
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.root_access_key_id.as_deref(), Some("AKIAFROMFILE00000001"));
        assert_eq!(args.root_secret_access_key.as_deref(), Some("file-secret"));
        // Not in the file: the built-in default.
        assert_eq!(args.mfa_lock_seconds, 300);
        assert_eq!(args.config, Some(file.path().to_owned()));
    }

    #[test]
    fn flags_override_the_file() {
        let file = config("listen = \"0.0.0.0:9090\"\ndata-dir = \"/from/file\"\nmfa-max-failures = 5\n");
        let path = file.path().to_str().unwrap();
        let args = serve(&["serve", "--listen", "127.0.0.1:7070", "--config", path, "--mfa-max-failures=7"]);
        assert_eq!(args.listen, addr("127.0.0.1:7070"));
        assert_eq!(args.mfa_max_failures, 7);
        assert_eq!(args.data_dir, Some(PathBuf::from("/from/file")));
    }

    #[test]
    fn a_file_false_flag_stays_off_and_the_flag_turns_it_on() {
        let file = config("data-dir = \"/d\"\nrequire-mfa-enrolment = false\n");
        let path = file.path().to_str().unwrap();
        assert!(!serve(&["serve", "--config", path]).require_mfa_enrolment);
        assert!(serve(&["serve", "--config", path, "--require-mfa-enrolment"]).require_mfa_enrolment);
    }

    #[test]
    fn storage_is_still_required_from_somewhere() {
        let error = parse(&["serve"]).err().expect("refused");
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        let file = config("listen = \"127.0.0.1:9090\"\n");
        let error = parse(&["serve", "--config", file.path().to_str().unwrap()]).err().expect("refused");
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        let file = config("database-url = \"postgres://db/iamd\"\n");
        let args = serve(&["serve", "--config", file.path().to_str().unwrap()]);
        assert_eq!(args.database_url.as_deref(), Some("postgres://db/iamd"));
    }

    #[test]
    fn an_unknown_key_is_named_with_the_nearest_and_the_valid_keys() {
        let (kind, message) = refusal(&config("data-dir = \"/d\"\nlisen = \"0.0.0.0:1\"\n"));
        assert_eq!(kind, ErrorKind::UnknownArgument);
        assert!(message.contains("unknown key `lisen` (did you mean `listen`?)"), "{message}");
        assert!(message.contains("mfa-max-lock-seconds, min-free-disk-mb"), "{message}");
        assert!(!message.contains("config,"), "{message}");
        let (_, message) = refusal(&config("[serve]\nlisten = \"0.0.0.0:1\"\n"));
        assert!(message.contains("unknown key `serve`;"), "{message}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused() {
        let (kind, message) = refusal(&config("data-dir = \"/d\"\n[listen]\nport = 1\n"));
        assert_eq!(kind, ErrorKind::InvalidValue);
        assert!(message.contains("`listen`: must be a string or an integer, not a TOML table"), "{message}");
        let (_, message) = refusal(&config("data-dir = \"/d\"\nrequire-mfa-enrolment = \"yes\"\n"));
        assert!(message.contains("`require-mfa-enrolment`: must be true or false, not a TOML string"), "{message}");
        let (_, message) = refusal(&config("data-dir = \"/d\"\nmax-connections = true\n"));
        assert!(message.contains("`max-connections`: must be a string or an integer, not a TOML boolean"), "{message}");
    }

    #[test]
    fn a_value_the_flag_would_refuse_is_refused_with_its_key() {
        let (kind, message) = refusal(&config("data-dir = \"/d\"\nlisten = \"nowhere\"\n"));
        assert_eq!(kind, ErrorKind::InvalidValue);
        assert!(message.contains("`listen`: invalid value 'nowhere' for '--listen <LISTEN>'"), "{message}");
        let (_, message) = refusal(&config("data-dir = \"/d\"\nmfa-max-failures = -1\n"));
        assert!(message.contains("`mfa-max-failures`: invalid value '-1'"), "{message}");
        let (_, message) = refusal(&config("data-dir = \"/d\"\nlog-format = \"xml\"\n"));
        assert!(message.contains("[possible values: text, json]"), "{message}");
    }

    #[test]
    fn an_unreadable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.toml");
        let error = parse(&["serve", "--config", missing.to_str().unwrap()]).err().expect("refused");
        assert_eq!(error.kind(), ErrorKind::Io);
        let message = error.to_string();
        assert!(message.contains(&format!("config file {}: cannot be read", missing.display())), "{message}");
    }

    #[test]
    fn invalid_toml_is_refused_at_its_line_without_showing_it() {
        let (kind, message) = refusal(&config("data-dir = \"/d\"\n\nroot-secret-access-key = \"hunter2-very-secret\n"));
        assert_eq!(kind, ErrorKind::InvalidValue);
        assert!(message.contains("invalid TOML at line 3, column"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let (_, message) = refusal(&config("listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n"));
        assert!(message.contains("invalid TOML at line 2"), "{message}");
    }

    #[test]
    fn help_and_version_still_answer_and_help_hides_file_values() {
        assert_eq!(parse(&["--version"]).err().unwrap().kind(), ErrorKind::DisplayVersion);
        let file = config("data-dir = \"/d\"\nroot-secret-access-key = \"hunter2-very-secret\"\n");
        let help = parse(&["serve", "--config", file.path().to_str().unwrap(), "--help"]).err().unwrap();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let text = help.to_string();
        assert!(text.contains("--config <FILE>"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn half_a_root_key_from_the_file_is_refused_at_start_up() {
        let file = config("data-dir = \"/d\"\nroot-access-key-id = \"AKIAFROMFILE00000001\"\n");
        let args = serve(&["serve", "--config", file.path().to_str().unwrap()]);
        let refusal = crate::config::configured_root_key(&args).expect_err("refused").to_string();
        assert!(refusal.contains("go together"), "{refusal}");
        let args = serve(&["serve", "--config", file.path().to_str().unwrap(), "--root-secret-access-key", "s"]);
        assert_eq!(crate::config::configured_root_key(&args).unwrap(), Some(("AKIAFROMFILE00000001", "s")));
    }

    #[test]
    fn only_serve_takes_a_config_file() {
        let file = config("data-dir = \"/d\"\n");
        let error = parse(&["backup", "--config", file.path().to_str().unwrap()]).err().expect("refused");
        assert_eq!(error.kind(), ErrorKind::UnknownArgument);
    }
}
