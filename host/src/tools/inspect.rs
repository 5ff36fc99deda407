//! `host inspect`: a plugin's build info (its ABI next to the host's) and its components with
//! their families and default configs; `host envs`: the environment ids.

use crate::plugins;

pub fn run(spec: &str) -> Result<(), String> {
    let (lib, component) = plugins::split_spec(spec);
    let plugin =
        acgap_sdk::plugin::Plugin::open(&plugins::resolve(lib)?).map_err(|e| e.to_string())?;
    let shown: Vec<_> = (plugin.info.components.iter())
        .filter(|c| component.is_none_or(|name| c.name == name))
        .collect();
    if let (Some(name), true) = (component, shown.is_empty()) {
        let names: Vec<&str> = (plugin.info.components.iter())
            .map(|c| c.name.as_str())
            .collect();
        return Err(format!(
            "`{}` has no component `{name}`; it has: {}",
            plugin.path.display(),
            names.join(", ")
        ));
    }
    let b = &plugin.info.build;
    println!("plugin      {}", plugin.path.display());
    println!("crate       {} {}", b.crate_name, b.crate_version);
    println!(
        "abi         {} (host {})",
        b.abi_version,
        acgap_sdk::plugin::ABI_VERSION
    );
    println!(
        "sdk         {} (host {})",
        b.sdk_version,
        acgap_sdk::plugin::SDK_VERSION
    );
    println!("rustc       {}", b.rustc);
    println!("panic       {}", b.panic_strategy);
    for c in shown {
        let family = c
            .family
            .as_deref()
            .map(|f| format!(" ({f} family)"))
            .unwrap_or_default();
        println!("\n{:?} `{}`{family}: {}", c.kind, c.name, c.description);
        println!(
            "default config: {}",
            serde_json::to_string_pretty(&c.default_config).unwrap_or_default()
        );
    }
    Ok(())
}

/// `host envs`: the environment ids, and whether the MuJoCo tasks are available here.
pub fn envs() {
    for (id, about) in acgap_envs::ENV_IDS {
        println!("{id:26} {about}");
    }
    let (gym, about) = acgap_envs::gym::HELP;
    println!("{gym:26} {about}");
    let mujoco = acgap_envs::mujoco::availability();
    println!(
        "\nMuJoCo tasks (halfcheetah, hopper, walker2d, reacher): {}",
        match &mujoco {
            Ok(()) => format!(
                "available (MuJoCo {}, Gymnasium {} models)",
                acgap_envs::mujoco::MUJOCO_VERSION,
                acgap_envs::mujoco::GYMNASIUM_VERSION
            ),
            Err(why) => format!("not available. {why}"),
        }
    );
}
