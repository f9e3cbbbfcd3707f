//! The recorded graph and the reverse-mode pass over it.
//!
//! Each op result that needs a gradient stores an `Op`: which operation made it and the input
//! tensors (plus the little state its backward needs). The backward pass sorts the graph
//! topologically (iteratively, so long chains do not overflow the stack), walks it from the
//! output to the leaves, and asks each op family's `*_backward` function for the gradients of
//! its inputs, summing contributions that meet at a shared input.
//!
//! Backward rules are written with tensor operations. With `create_graph = false` they run
//! under no-grad and allocate no graph; with `create_graph = true` the gradients are
//! themselves recorded and can be differentiated again, which gives exact Hessian-vector
//! products: `H v = d/dx <grad f(x), v>`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use ndarray::ArrayD;

use crate::error::{Result, TensorError};
use crate::ops::activation::{softmax_backward, SoftmaxKind};
use crate::ops::conv::{conv_backward, Patches};
use crate::ops::elementwise::{binary_backward, unary_backward, BinaryOp, UnaryOp};
use crate::ops::layout::layout_backward;
use crate::ops::loss::bce_with_logits_backward;
use crate::ops::matmul::matmul_backward;
use crate::ops::reduce::{reduce_backward, ReduceOp};
use crate::tensor::{with_grad_mode, Tensor, TensorId};

/// How a tensor was made: the operation and its inputs.
pub(crate) enum Op {
    Unary {
        op: UnaryOp,
        x: Tensor,
    },
    Binary {
        op: BinaryOp,
        a: Tensor,
        b: Tensor,
    },
    Reduce {
        op: ReduceOp,
        x: Tensor,
        axes: Vec<usize>,
    },
    Softmax {
        kind: SoftmaxKind,
        x: Tensor,
        axis: usize,
        keepdim: bool,
    },
    Matmul {
        a: Tensor,
        b: Tensor,
    },
    BceWithLogits {
        logits: Tensor,
        targets: Tensor,
    },
    Unfold {
        x: Tensor,
        patches: Patches,
    },
    Fold {
        x: Tensor,
        patches: Patches,
    },
    Reshape {
        x: Tensor,
    },
    Permute {
        x: Tensor,
        perm: Vec<usize>,
    },
    BroadcastTo {
        x: Tensor,
    },
    Slice {
        x: Tensor,
        ranges: Vec<Range<usize>>,
    },
    Pad {
        x: Tensor,
        pads: Vec<(usize, usize)>,
    },
    Concat {
        xs: Vec<Tensor>,
        axis: usize,
    },
    IndexSelect {
        x: Tensor,
        axis: usize,
        index: Arc<[usize]>,
    },
    IndexAdd {
        src: Tensor,
        axis: usize,
        index: Arc<[usize]>,
    },
    Gather {
        x: Tensor,
        axis: usize,
        index: Arc<ArrayD<usize>>,
    },
    ScatterAdd {
        src: Tensor,
        axis: usize,
        index: Arc<ArrayD<usize>>,
    },
}

impl Op {
    /// The inputs of the operation.
    pub(crate) fn parents(&self) -> Vec<&Tensor> {
        match self {
            Op::Unary { x, .. }
            | Op::Reduce { x, .. }
            | Op::Softmax { x, .. }
            | Op::Reshape { x }
            | Op::Permute { x, .. }
            | Op::BroadcastTo { x }
            | Op::Slice { x, .. }
            | Op::Pad { x, .. }
            | Op::IndexSelect { x, .. }
            | Op::Unfold { x, .. }
            | Op::Fold { x, .. }
            | Op::Gather { x, .. } => vec![x],
            Op::IndexAdd { src, .. } | Op::ScatterAdd { src, .. } => vec![src],
            Op::Binary { a, b, .. } | Op::Matmul { a, b } => vec![a, b],
            Op::BceWithLogits { logits, targets } => vec![logits, targets],
            Op::Concat { xs, .. } => xs.iter().collect(),
        }
    }

    /// Consumes the op, yielding its inputs (used by the iterative drop of deep graphs).
    pub(crate) fn into_parents(self) -> Vec<Tensor> {
        match self {
            Op::Unary { x, .. }
            | Op::Reduce { x, .. }
            | Op::Softmax { x, .. }
            | Op::Reshape { x }
            | Op::Permute { x, .. }
            | Op::BroadcastTo { x }
            | Op::Slice { x, .. }
            | Op::Pad { x, .. }
            | Op::IndexSelect { x, .. }
            | Op::Unfold { x, .. }
            | Op::Fold { x, .. }
            | Op::Gather { x, .. } => vec![x],
            Op::IndexAdd { src, .. } | Op::ScatterAdd { src, .. } => vec![src],
            Op::Binary { a, b, .. } | Op::Matmul { a, b } => vec![a, b],
            Op::BceWithLogits { logits, targets } => vec![logits, targets],
            Op::Concat { xs, .. } => xs,
        }
    }

    /// A short name for messages and `Debug`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Unary { op, .. } => op.name(),
            Op::Binary { op, .. } => op.name(),
            Op::Reduce { op, .. } => op.name(),
            Op::Softmax { kind, .. } => match kind {
                SoftmaxKind::Softmax => "softmax",
                SoftmaxKind::LogSoftmax => "log_softmax",
                SoftmaxKind::LogSumExp => "logsumexp",
            },
            Op::Matmul { .. } => "matmul",
            Op::BceWithLogits { .. } => "bce_with_logits",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::BroadcastTo { .. } => "broadcast_to",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::IndexSelect { .. } => "index_select",
            Op::IndexAdd { .. } => "index_add",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::Unfold { .. } => "unfold2d",
            Op::Fold { .. } => "fold2d",
        }
    }

    /// Gradients of the inputs that require them, given `g = dL/d(node)`.
    fn backward(&self, node: &Tensor, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
        let pair = |x: &Tensor, gx: Tensor| vec![(x.clone(), gx)];
        let two = |a: &Tensor, b: &Tensor, (ga, gb): (Option<Tensor>, Option<Tensor>)| {
            let mut v = Vec::with_capacity(2);
            if let Some(ga) = ga {
                v.push((a.clone(), ga));
            }
            if let Some(gb) = gb {
                v.push((b.clone(), gb));
            }
            v
        };
        Ok(match self {
            Op::Unary { op, x } => pair(x, unary_backward(*op, x, node, g)?),
            Op::Binary { op, a, b } => two(a, b, binary_backward(*op, a, b, node, g)?),
            Op::Reduce { op, x, axes } => pair(x, reduce_backward(*op, x, node, axes, g)?),
            Op::Softmax {
                kind,
                x,
                axis,
                keepdim,
            } => pair(x, softmax_backward(*kind, x, node, *axis, *keepdim, g)?),
            Op::Matmul { a, b } => two(a, b, matmul_backward(a, b, g)?),
            Op::BceWithLogits { logits, targets } => two(
                logits,
                targets,
                bce_with_logits_backward(logits, targets, g)?,
            ),
            Op::Unfold { .. } | Op::Fold { .. } => conv_backward(self, g)?,
            // Every variant is named: a new op does not compile until its rule is written.
            Op::Reshape { .. }
            | Op::Permute { .. }
            | Op::BroadcastTo { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Concat { .. }
            | Op::IndexSelect { .. }
            | Op::IndexAdd { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. } => layout_backward(self, g)?,
        })
    }
}

/// Gradients produced by one backward pass, keyed by tensor id.
pub(crate) struct Gradients {
    leaves: Vec<(Tensor, Tensor)>,
    wanted: HashMap<TensorId, Tensor>,
}

impl Gradients {
    /// The (leaf, gradient) pairs for every leaf that requires gradients.
    pub(crate) fn into_leaves(self) -> Vec<(Tensor, Tensor)> {
        self.leaves
    }
}

/// Nodes reachable from `root` through tensors that require gradients, in topological order
/// (every node after all of its inputs).
///
/// # Errors
/// [`TensorError::Autodiff`] when a node's recording was freed by an earlier backward pass.
fn topo_order(root: &Tensor) -> Result<Vec<Tensor>> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // Iterative post-order DFS: (node, children_pushed).
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        if !visited.insert(node.id()) {
            continue;
        }
        stack.push((node.clone(), true));
        let op = node.op();
        match (op.as_ref(), node.made_by()) {
            (Some(op), _) => {
                for p in op.parents() {
                    if p.requires_grad() && !visited.contains(&p.id()) {
                        stack.push((p.clone(), false));
                    }
                }
            }
            (None, Some(name)) => return Err(freed(name)),
            (None, None) => {}
        }
    }
    Ok(order)
}

fn freed(name: &str) -> TensorError {
    TensorError::Autodiff(format!(
        "backward through a graph that an earlier backward pass freed (at a `{name}` node): \
         pass GradOptions {{ retain_graph: true, .. }} to the first pass to keep it \
         (Tensor::backward_with, grad), or run the forward again"
    ))
}

/// Runs the reverse pass from `root` seeded with `seed = dL/d(root)`.
///
/// Returns the gradient of every leaf that requires one, plus that of every node in `wanted`
/// (leaf or not). With `create_graph`, the backward computation is recorded. Unless the
/// options retain it (`retain_graph`, or `create_graph`), every walked node's recording is
/// freed once the whole pass has succeeded (a failed pass frees nothing).
pub(crate) fn run_backward_for(
    root: &Tensor,
    seed: &Tensor,
    options: GradOptions,
    wanted: &[TensorId],
) -> Result<Gradients> {
    let create_graph = options.create_graph;
    if !root.requires_grad() {
        return Err(TensorError::Autodiff(
            "the output does not require gradients: no input it depends on has \
             requires_grad set (or it was computed under no_grad)"
                .into(),
        ));
    }
    if seed.shape() != root.shape() {
        return Err(TensorError::shape_detail(
            "backward",
            root.shape(),
            seed.shape(),
            "the seed gradient must have the output's shape".into(),
        ));
    }
    let gradients = with_grad_mode(create_graph, || {
        let order = topo_order(root)?;
        let mut grads: HashMap<TensorId, Tensor> = HashMap::new();
        grads.insert(
            root.id(),
            if create_graph {
                seed.clone()
            } else {
                seed.detach()
            },
        );
        let mut leaves = Vec::new();
        let mut wanted_out = HashMap::new();
        for node in order.iter().rev() {
            let Some(g) = grads.remove(&node.id()) else {
                continue;
            };
            if wanted.contains(&node.id()) {
                wanted_out.insert(node.id(), g.clone());
            }
            let op = node.op();
            match op.as_ref() {
                None => match node.made_by() {
                    Some(name) => return Err(freed(name)),
                    None => leaves.push((node.clone(), g)),
                },
                Some(op) => {
                    for (parent, pg) in op.backward(node, &g)? {
                        debug_assert_eq!(parent.shape(), pg.shape(), "{} backward", op.name());
                        let total = match grads.remove(&parent.id()) {
                            Some(prev) => prev.add(&pg)?,
                            None => pg,
                        };
                        grads.insert(parent.id(), total);
                    }
                }
            }
        }
        Ok((
            Gradients {
                leaves,
                wanted: wanted_out,
            },
            order,
        ))
    });
    let (gradients, order) = gradients?;
    if !(options.retain_graph || create_graph) {
        for node in &order {
            node.free_op();
        }
    }
    Ok(gradients)
}

/// [`run_backward_for`] with no extra wanted nodes.
pub(crate) fn run_backward(
    root: &Tensor,
    seed: &Tensor,
    options: GradOptions,
) -> Result<Gradients> {
    run_backward_for(root, seed, options, &[])
}

/// Options for [`grad`] and [`Tensor::backward_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GradOptions {
    /// Record the backward computation so that the returned gradients can be differentiated
    /// again (PyTorch's `create_graph=True`): needed for Hessian-vector products. Implies
    /// `retain_graph`.
    pub create_graph: bool,
    /// Keep the graph after the pass so that another backward can walk it (PyTorch's
    /// `retain_graph=True`). Without it (and without `create_graph`) the pass frees every
    /// node it walked: intermediate results drop their inputs and saved state.
    pub retain_graph: bool,
}

impl GradOptions {
    /// `create_graph = true`: the gradients are recorded (and the graph kept).
    pub fn create_graph() -> GradOptions {
        GradOptions {
            create_graph: true,
            retain_graph: true,
        }
    }

    /// `retain_graph = true`: the graph is kept for another pass.
    pub fn retain_graph() -> GradOptions {
        GradOptions {
            create_graph: false,
            retain_graph: true,
        }
    }
}

/// Gradients of `output` with respect to each of `inputs` (PyTorch's `torch.autograd.grad`),
/// without touching any `.grad()` slot. `seed` is `dL/d(output)`; `None` means ones (so a
/// scalar output gives its plain gradient). An input that `output` does not depend on gets a
/// zero gradient.
///
/// The Hessian-vector product of a scalar `f` at `x` along `v` is exact:
/// `H v = grad(<grad(f, x), v>, x)` with `create_graph = true` in the inner call.
///
/// Like [`Tensor::backward`], the pass frees the graph it walked unless `options` retain it.
///
/// # Errors
/// [`TensorError::Autodiff`] when `output` does not require gradients or its graph was freed;
/// [`TensorError::ShapeMismatch`] when the seed's shape differs from the output's.
pub fn grad(
    output: &Tensor,
    inputs: &[&Tensor],
    seed: Option<&Tensor>,
    options: GradOptions,
) -> Result<Vec<Tensor>> {
    let ones;
    let seed = match seed {
        Some(s) => s,
        None => {
            ones = output.ones_like();
            &ones
        }
    };
    let ids: Vec<TensorId> = inputs.iter().map(|t| t.id()).collect();
    let result = run_backward_for(output, seed, options, &ids)?;
    Ok(inputs
        .iter()
        .map(|t| {
            result
                .wanted
                .get(&t.id())
                .cloned()
                .unwrap_or_else(|| t.zeros_like())
        })
        .collect())
}
