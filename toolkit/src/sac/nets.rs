//! [`SacNets`]: the one owner of the SAC core's parameters.
//!
//! The steps run one of two ways: on the CPU device the fused passes of `host_steps.rs` move
//! host copies of the networks ([`HostNets`]); on other devices burn's autodiff moves the burn
//! networks themselves. Whatever reads the networks as burn networks — a correction's context,
//! the diagnostics, the burn steps' own objectives — asks [`SacNets::burn`], which on the fused
//! path builds them from the host copies the first time they are read after a step. So there
//! is no copy to keep in step by hand, and no read that can see parameters a step has moved.

use super::host_steps::HostNets;
use crate::{Mlp, SquashedGaussian};
use acgap_sdk::PluginResult;
use std::cell::OnceCell;

/// The actor, the twin critics and their targets as burn networks.
#[derive(Clone)]
pub(super) struct BurnNets {
    pub actor: SquashedGaussian,
    pub critics: [Mlp; 2],
    pub targets: [Mlp; 2],
}

impl BurnNets {
    /// Flat parameters of the actor, the critics and the targets, in that order.
    pub fn flats(&self) -> [Vec<f32>; 5] {
        [
            &self.actor.net,
            &self.critics[0],
            &self.critics[1],
            &self.targets[0],
            &self.targets[1],
        ]
        .map(|n| n.to_flat())
    }
}

pub(super) struct SacNets {
    /// The burn path: the parameters. The fused path: the networks' shapes and device (the
    /// last view built, or the initial networks), never read as parameters.
    burn: BurnNets,
    /// The fused path (CPU device): the host copies, which the steps move.
    host: Option<HostNets>,
    /// The fused path: the burn view of the host copies, built on first read after a step.
    view: OnceCell<BurnNets>,
}

impl SacNets {
    /// `threads`: the CPU device's compute threads (the fused path), `None` elsewhere.
    pub fn new(burn: BurnNets, threads: Option<usize>) -> PluginResult<Self> {
        let host = match threads {
            Some(t) => Some(HostNets::new(
                &burn.actor.net,
                &burn.critics,
                &burn.targets,
                t,
            )?),
            None => None,
        };
        Ok(Self {
            burn,
            host,
            view: OnceCell::new(),
        })
    }

    /// Whether the steps run the fused passes on the host copies.
    pub fn fused(&self) -> bool {
        self.host.is_some()
    }

    /// The networks as burn networks, as they are now.
    pub fn burn(&self) -> &BurnNets {
        match &self.host {
            None => &self.burn,
            Some(host) => self.view.get_or_init(|| {
                let mut view = self.burn.clone();
                host.write_into(&mut view.actor.net, &mut view.critics, &mut view.targets);
                view
            }),
        }
    }

    /// The networks' shapes (parameter counts), without building a view on the fused path.
    pub fn shapes(&self) -> &BurnNets {
        &self.burn
    }

    /// The burn networks, for the burn path's steps (on the fused path: none).
    pub fn burn_to_step(&mut self) -> &mut BurnNets {
        assert!(
            self.host.is_none(),
            "the burn steps run on the burn path only"
        );
        &mut self.burn
    }

    /// The host copies, for a fused step: the burn view of them is dropped, as the step is
    /// about to move them.
    pub fn host_to_step(&mut self) -> Option<&mut HostNets> {
        if let Some(view) = self.view.take() {
            self.burn = view;
        }
        self.host.as_mut()
    }

    /// The host copies, for passes that move no parameter (acting), with their buffers.
    pub fn host_to_read(&mut self) -> Option<&mut HostNets> {
        self.host.as_mut()
    }

    pub fn host(&self) -> Option<&HostNets> {
        self.host.as_ref()
    }

    /// Set every network with `set` (a checkpoint), then the host copies from them.
    pub fn load(
        &mut self,
        set: impl FnOnce(&mut BurnNets) -> PluginResult<()>,
    ) -> PluginResult<()> {
        self.view.take();
        set(&mut self.burn)?;
        if let Some(host) = &mut self.host {
            host.reload(&self.burn.actor.net, &self.burn.critics, &self.burn.targets);
        }
        Ok(())
    }

    /// From now on the steps run through burn on the CPU device too (tests compare the paths).
    #[cfg(test)]
    pub fn without_host(&mut self) {
        self.burn = self.burn().clone();
        self.view.take();
        self.host = None;
    }
}
