//! The contexts' operations across a library boundary, each declared once. A context's table
//! (in `context.rs` for [`crate::SacContext`], `onpolicy_context.rs` for
//! [`crate::OnPolicyContext`]) gives every operation's wire name, the trait method it calls and
//! the types of its arguments and answer; [`context_ops!`] turns it into the core side's
//! dispatch (`serve_op`), the correction side's trait methods (each asks its operation by name,
//! or returns what was fetched once) and the list of names (`OPS`, checked by the tests).
//! Adding an operation is one line in a table.
//!
//! On the wire every argument and answer is a flat vector of the context's channel type (`f32`
//! for the SAC context's `call`, `f64` for the on-policy context's `call_f64`, frozen at ABI
//! 1.0); [`Elem`] and [`Wire`] say how each typed value crosses it.

use super::abi::ContextRef;
use crate::batch::{Batch, BatchKind};
use crate::correction::{ContextInfo, RolloutInfo, Sampled};
use crate::result::PluginResult;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};
use std::borrow::Cow;

/// An element type of a slice argument, on a channel of `W`: `f32` on the f32 channel and
/// `f64` on the f64 channel cross as they are; `f32` on the f64 channel widens exactly and
/// narrows back unchanged.
pub(super) trait Elem<W: Clone>: Clone + Sized {
    fn from_channel(v: &[W]) -> Cow<'_, [Self]>;
    fn to_channel(v: &[Self]) -> Cow<'_, [W]>;
}

impl<T: Clone> Elem<T> for T {
    fn from_channel(v: &[T]) -> Cow<'_, [T]> {
        Cow::Borrowed(v)
    }
    fn to_channel(v: &[T]) -> Cow<'_, [T]> {
        Cow::Borrowed(v)
    }
}

impl Elem<f64> for f32 {
    fn from_channel(v: &[f64]) -> Cow<'_, [f32]> {
        Cow::Owned(v.iter().map(|&x| x as f32).collect())
    }
    fn to_channel(v: &[f32]) -> Cow<'_, [f64]> {
        Cow::Owned(v.iter().map(|&x| x as f64).collect())
    }
}

/// How an answer crosses a channel of `W`.
pub(super) trait Wire<W>: Sized {
    fn to_wire(self) -> Vec<W>;
    /// `rows`: the batch length, for answers whose layout depends on it.
    fn from_wire(v: Vec<W>, rows: usize, op: &str) -> PluginResult<Self>;
}

/// A vector on its own channel: moved, not copied.
impl<T> Wire<T> for Vec<T> {
    fn to_wire(self) -> Vec<T> {
        self
    }
    fn from_wire(v: Vec<T>, _: usize, _: &str) -> PluginResult<Self> {
        Ok(v)
    }
}

/// f32 data on the f64 channel.
impl Wire<f64> for Vec<f32> {
    fn to_wire(self) -> Vec<f64> {
        f32::to_channel(&self).into_owned()
    }
    fn from_wire(v: Vec<f64>, _: usize, _: &str) -> PluginResult<Self> {
        Ok(f32::from_channel(&v).into_owned())
    }
}

/// Flags as 0 and 1.
impl Wire<f64> for Vec<bool> {
    fn to_wire(self) -> Vec<f64> {
        self.into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect()
    }
    fn from_wire(v: Vec<f64>, _: usize, _: &str) -> PluginResult<Self> {
        Ok(v.into_iter().map(|x| x > 0.5).collect())
    }
}

/// Actions (`rows x act_dim`) then log-probabilities (`rows`).
impl Wire<f32> for Sampled {
    fn to_wire(self) -> Vec<f32> {
        let mut v = self.actions;
        v.extend(self.log_prob);
        v
    }
    fn from_wire(mut v: Vec<f32>, rows: usize, op: &str) -> PluginResult<Self> {
        if rows == 0 || !v.len().is_multiple_of(rows) || v.len() < 2 * rows {
            return Err(format!(
                "context `{op}` returned {} values, not (act_dim + 1) x {rows}",
                v.len()
            ));
        }
        let log_prob = v.split_off(v.len() - rows);
        Ok(Sampled {
            actions: v,
            log_prob,
        })
    }
}

/// Declares a struct's wire form once: its scalar fields in order, then one list field.
macro_rules! wire_struct {
    ($ty:ident, $w:ty { $($field:ident),* ; $list:ident }) => {
        impl Wire<$w> for $ty {
            fn to_wire(self) -> Vec<$w> {
                let mut v: Vec<$w> = vec![$(self.$field as $w),*];
                v.extend(self.$list.iter().map(|&x| x as $w));
                v
            }
            fn from_wire(v: Vec<$w>, _: usize, op: &str) -> PluginResult<Self> {
                let fields = [$(stringify!($field)),*];
                if v.len() < fields.len() {
                    return Err(format!("context `{op}` answer is too short ({} values)", v.len()));
                }
                let mut it = v.into_iter();
                Ok($ty {
                    $($field: wire_struct!(@take it),)*
                    $list: it.map(|x| x as _).collect(),
                })
            }
        }
    };
    (@take $it:ident) => {
        $it.next().expect("length checked") as _
    };
}

wire_struct!(ContextInfo, f32 { obs_dim, act_dim, batch_len, gamma, alpha, actor_params, critic_params; hidden });
wire_struct!(RolloutInfo, f64 { obs_dim, act_dim, batch_len, gamma, gae_lambda, critic_params, actor_params, update; hidden });

/// Argument `i` of operation `op`.
pub(super) fn arg<'a, W>(args: &[&'a [W]], i: usize, op: &str) -> PluginResult<&'a [W]> {
    args.get(i)
        .copied()
        .ok_or_else(|| format!("context query `{op}` needs argument {i}"))
}

/// Declares a context's operations once; see the module's comment. `ask` operations are asked
/// at every call; `fetch` operations (the rollout's per-transition vectors) once, when the
/// correction's side of the context is built.
macro_rules! context_ops {
    (
        context: $ctx:path, remote: $remote:ident, wire: $w:ty, kind: $kind:expr;
        fetch { $( $fname:literal => fn $fmethod:ident() -> $fret:ty; )* }
        ask { $( $name:literal => fn $method:ident($($arg:ident: $aty:ty),*) -> $ret:ty; )* }
    ) => {
        /// The operations' wire names, in declaration order.
        #[cfg(test)]
        pub(super) const OPS: &[&str] = &[$($fname,)* $($name),*];

        /// Answers operation `op` on `c` (a batch column too), or says it is unknown.
        fn serve(c: &dyn $ctx, op: &str, args: &[&[$w]]) -> PluginResult<Vec<$w>> {
            match serve_op(c, op, args) {
                Some(answer) => answer,
                None => super::ops::serve_batch(&c.batch(), op).ok_or_else(|| {
                    format!(
                        "unknown context query `{op}` of {} (correction built against a newer SDK?)",
                        stringify!($ctx)
                    )
                }),
            }
        }

        /// Answers operation `op` on `c`, or `None` if no operation has that name.
        fn serve_op(c: &dyn $ctx, op: &str, args: &[&[$w]]) -> Option<PluginResult<Vec<$w>>> {
            use super::ops::Wire;
            let _ = args;
            match op {
                $( $fname => Some(Ok(c.$fmethod().to_wire())), )*
                $(
                    $name => Some(super::ops::run(|| {
                        let mut _i = 0;
                        $(
                            let $arg = <$aty as super::ops::Elem<$w>>::from_channel(
                                super::ops::arg(args, _i, op)?,
                            );
                            _i += 1;
                        )*
                        c.$method($(&$arg),*).map(Wire::to_wire)
                    })),
                )*
                _ => None,
            }
        }

        /// What the correction's side fetches once.
        struct Fetched {
            $( $fmethod: $fret, )*
        }

        impl Fetched {
            fn new(ask: impl Fn(&str) -> PluginResult<Vec<$w>>, rows: usize) -> PluginResult<Self> {
                Ok(Self {
                    $( $fmethod: super::ops::Wire::from_wire(ask($fname)?, rows, $fname)?, )*
                })
            }
        }

        /// A context owned by another library, seen through the trait: what `fetch` names and
        /// the batch are fetched once, the rest is asked at every call.
        pub(super) struct $remote<'a> {
            ctx: super::abi::ContextRef<'a>,
            fetched: Fetched,
            columns: super::ops::Columns,
        }

        impl<'a> $remote<'a> {
            pub(super) fn new(ctx: super::abi::ContextRef<'a>) -> PluginResult<Self> {
                let ask = |op: &str| super::ops::ask(&ctx, op, &[]);
                // Every table fetches `info`, whose batch length sizes the rest.
                let fetched = Fetched::new(ask, 0)?;
                let len = fetched.info.batch_len;
                let columns = super::ops::Columns::fetch(ask, len, $kind)?;
                Ok(Self { ctx, fetched, columns })
            }

            fn rows(&self) -> usize {
                self.columns.len
            }

            fn ask(&self, op: &str, args: &[std::borrow::Cow<'_, [$w]>]) -> PluginResult<Vec<$w>> {
                super::ops::ask(&self.ctx, op, args)
            }
        }

        impl $ctx for $remote<'_> {
            $(
                fn $fmethod(&self) -> $fret {
                    self.fetched.$fmethod.clone()
                }
            )*
            $(
                fn $method(&self, $($arg: &[$aty]),*) -> PluginResult<$ret> {
                    let args: Vec<std::borrow::Cow<'_, [$w]>> =
                        vec![$(<$aty as super::ops::Elem<$w>>::to_channel($arg)),*];
                    let answer = self.ask($name, &args)?;
                    super::ops::Wire::from_wire(answer, self.rows(), $name)
                }
            )*
            fn batch(&self) -> $crate::batch::Batch<'_> {
                self.columns.batch()
            }
        }
    };
}
pub(super) use context_ops;

/// A batch's columns on the wire (`batch.kind`, `batch.obs`, ...), served and fetched the same
/// way by both contexts.
pub(super) const BATCH_COLUMNS: [&str; 6] = [
    "batch.obs",
    "batch.action",
    "batch.reward",
    "batch.next_obs",
    "batch.terminated",
    "batch.truncated",
];

/// The answer to a batch operation, if `op` is one.
pub(super) fn serve_batch<W: Clone>(b: &Batch<'_>, op: &str) -> Option<Vec<W>>
where
    f32: Elem<W>,
{
    let columns = [
        b.obs,
        b.action,
        b.reward,
        b.next_obs,
        b.terminated,
        b.truncated,
    ];
    if op == "batch.kind" {
        return Some(<f32 as Elem<W>>::to_channel(&[b.kind as u8 as f32]).into_owned());
    }
    let i = BATCH_COLUMNS.iter().position(|c| *c == op)?;
    Some(<f32 as Elem<W>>::to_channel(columns[i]).into_owned())
}

/// A batch fetched from the other side: its kind and columns.
pub(super) struct Columns {
    pub kind: BatchKind,
    pub len: usize,
    columns: [Vec<f32>; 6],
}

impl Columns {
    /// `kind`: known to the caller (an on-policy context always holds a rollout, and ABI 1.0
    /// on-policy cores do not answer `batch.kind`), or asked.
    pub fn fetch<W: Clone>(
        ask: impl Fn(&str) -> PluginResult<Vec<W>>,
        len: usize,
        kind: Option<BatchKind>,
    ) -> PluginResult<Self>
    where
        f32: Elem<W>,
    {
        let column = |op: &str| ask(op).map(|v| <f32 as Elem<W>>::from_channel(&v).into_owned());
        let kind = match kind {
            Some(kind) => kind,
            None if column("batch.kind")?.first() == Some(&1.0) => BatchKind::Rollout,
            None => BatchKind::Minibatch,
        };
        let mut columns: [Vec<f32>; 6] = Default::default();
        for (c, op) in columns.iter_mut().zip(BATCH_COLUMNS) {
            *c = column(op)?;
        }
        Ok(Self { kind, len, columns })
    }

    pub fn batch(&self) -> Batch<'_> {
        let [obs, action, reward, next_obs, terminated, truncated] = &self.columns;
        Batch {
            kind: self.kind,
            len: self.len,
            obs,
            action,
            reward,
            next_obs,
            terminated,
            truncated,
        }
    }
}

/// A channel of the frozen [`ContextFfi`]: `call` carries f32, `call_f64` f64.
pub(super) trait Channel: Clone + Sized {
    fn call<'a>(
        ctx: &ContextRef<'a>,
        op: RStr<'_>,
        args: RSlice<'_, RSlice<'_, Self>>,
    ) -> RResult<RVec<Self>, RString>;
}

impl Channel for f32 {
    fn call<'a>(
        ctx: &ContextRef<'a>,
        op: RStr<'_>,
        args: RSlice<'_, RSlice<'_, f32>>,
    ) -> RResult<RVec<f32>, RString> {
        ctx.call(op, args)
    }
}

impl Channel for f64 {
    fn call<'a>(
        ctx: &ContextRef<'a>,
        op: RStr<'_>,
        args: RSlice<'_, RSlice<'_, f64>>,
    ) -> RResult<RVec<f64>, RString> {
        ctx.call_f64(op, args)
    }
}

/// Asks operation `op` of a context in another library.
pub(super) fn ask<W: Channel>(
    ctx: &ContextRef<'_>,
    op: &str,
    args: &[Cow<'_, [W]>],
) -> PluginResult<Vec<W>> {
    let args: Vec<RSlice<'_, W>> = args.iter().map(|a| RSlice::from_slice(a)).collect();
    W::call(ctx, op.into(), RSlice::from_slice(&args))
        .into_result()
        .map_err(RString::into_string)
        .map(RVec::into_vec)
}

/// The core side's answer to one call: the arguments unwrapped, `serve` run under the panic
/// guard, the result wrapped.
pub(super) fn answer<W: Clone>(
    op: RStr<'_>,
    args: RSlice<'_, RSlice<'_, W>>,
    serve: impl FnOnce(&str, &[&[W]]) -> PluginResult<Vec<W>>,
) -> RResult<RVec<W>, RString> {
    let args: Vec<&[W]> = args.iter().map(|a| a.as_slice()).collect();
    match super::guard::guarded("context query", || serve(op.as_str(), &args)) {
        Ok(v) => ROk(v.into()),
        Err(e) => RErr(e.into()),
    }
}

/// Runs `f`: an operation's body, where `?` returns from the operation only.
pub(super) fn run<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes' wire layouts are frozen at ABI 1.0 (plugins built then read them by
    /// position): the declared order must stay this one.
    #[test]
    fn the_info_layouts_are_the_abi_1_0_ones() {
        let sac = ContextInfo {
            obs_dim: 3,
            act_dim: 1,
            batch_len: 128,
            gamma: 0.99,
            alpha: 0.5,
            actor_params: 100,
            critic_params: 200,
            hidden: vec![64, 32],
        };
        let want: Vec<f32> = vec![3.0, 1.0, 128.0, 0.99, 0.5, 100.0, 200.0, 64.0, 32.0];
        assert_eq!(sac.clone().to_wire(), want);
        assert_eq!(ContextInfo::from_wire(want, 0, "info").unwrap(), sac);
        let onpolicy = RolloutInfo {
            obs_dim: 4,
            act_dim: 1,
            batch_len: 512,
            gamma: 0.99,
            gae_lambda: 0.95,
            critic_params: 300,
            actor_params: 400,
            hidden: vec![64],
            update: 7,
        };
        let want = vec![4.0, 1.0, 512.0, 0.99, 0.95, 300.0, 400.0, 7.0, 64.0];
        assert_eq!(onpolicy.clone().to_wire(), want);
        assert_eq!(RolloutInfo::from_wire(want, 0, "info").unwrap(), onpolicy);
        assert!(ContextInfo::from_wire(vec![1.0; 6], 0, "info").is_err());
    }

    #[test]
    fn operation_names_are_unique_in_each_table() {
        for ops in [
            super::super::context::OPS,
            super::super::onpolicy_context::OPS,
        ] {
            let mut names = ops.to_vec();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                ops.len(),
                "an operation name is used twice: {ops:?}"
            );
        }
    }

    #[test]
    fn sampled_splits_actions_and_log_probabilities() {
        let s =
            Sampled::from_wire(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, "policy_actions").unwrap();
        assert_eq!(
            (s.actions, s.log_prob),
            (vec![1.0, 2.0, 3.0, 4.0], vec![5.0, 6.0])
        );
        assert!(Sampled::from_wire(vec![1.0; 5], 2, "policy_actions").is_err());
    }
}
