//! Property tests that feed the host's parsers and checkpoint readers arbitrary, truncated
//! and bit-flipped input: each must answer `Ok` or a clear `Err`, never panic or allocate
//! without bound.

use crate::cli::Cli;
use crate::run::replay::ReplayBuffer;
use crate::run::spec::Entry;
use crate::session::spec::SessionSpec;
use clap::Parser;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings built from the characters the parsers care about.
fn syntax() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(":".to_string()),
            Just(",".to_string()),
            Just("=".to_string()),
            Just("@".to_string()),
            Just("\"".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("label".to_string()),
            Just("correction.".to_string()),
            Just("sac".to_string()),
            Just("1e308".to_string()),
            Just("-".to_string()),
            "[a-z0-9./ ]{0,4}".prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plugin_flags_parse_or_fail_cleanly(text in syntax()) {
        let _ = Entry::parse(&text);
        let _ = crate::plugins::parse_sets(&[text]);
    }

    #[test]
    fn session_files_parse_or_fail_cleanly(text in syntax(), seeds in any::<u64>(), steps in any::<u64>()) {
        let _ = serde_json::from_str::<SessionSpec>(&text).map(|s| s.check());
        let file = format!(
            r#"{{"name": {name:?}, "seeds": {seeds}, "settings": {{"steps": {steps}, "eval_episodes": {seeds}}}, "plugins": [{{"plugin": {text:?}, "label": {text:?}}}]}}"#,
            name = text
        );
        if let Ok(spec) = serde_json::from_str::<SessionSpec>(&file) {
            let _ = spec.check();
        }
    }

    #[test]
    fn command_lines_parse_or_fail_cleanly(args in proptest::collection::vec(syntax(), 0..6), flag in prop_oneof![
        Just("--steps"), Just("--eval-episodes"), Just("--set"), Just("--plugin"), Just("--seeds"), Just("--shard"), Just("--env")
    ]) {
        let mut argv = vec!["host".to_string(), flag.to_string()];
        argv.extend(args);
        if let Ok(cli) = Cli::try_parse_from(&argv) {
            let _ = cli.train.settings.check();
            if let Some(shard) = &cli.train.shard {
                let _ = crate::session::spec::Shard::parse(shard);
            }
        }
    }

    #[test]
    fn replay_checkpoints_read_or_fail_cleanly(cut in 0.0f64..1.0, flips in proptest::collection::vec((0.0f64..1.0, 0u8..8), 0..4)) {
        let mut buffer = ReplayBuffer::new(50, 3, 1);
        for i in 0..20 {
            let x = i as f32;
            buffer.push(&[x, x, x], &[x], x, &[x, x, x], false, i % 7 == 0);
        }
        let mut bytes = buffer.to_bytes();
        for (at, bit) in flips {
            let i = ((bytes.len() as f64 * at) as usize).min(bytes.len() - 1);
            bytes[i] ^= 1 << bit;
        }
        bytes.truncate(((bytes.len() as f64) * cut.max(0.5)) as usize);
        if let Ok(b) = ReplayBuffer::from_bytes(&bytes) {
            // A buffer that reads back must be usable: sampling stays within it.
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
            let mut mb = crate::run::replay::Minibatch::default();
            if b.len() > 0 {
                b.sample(4, &mut rng, &mut mb);
            }
        }
    }

    #[test]
    fn host_states_read_or_fail_cleanly(text in syntax()) {
        let _ = serde_json::from_str::<crate::run::checkpoint::HostState>(&text);
    }
}
