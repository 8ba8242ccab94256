//! The operations as the sequential-consistency search sees them: each tagged with
//! its object (its key's number) and strung on its process's chain in program order.
//!
//! Sequential consistency keeps only one order of the history: each process's own.
//! So the search needs, per process, its operations in the order it issued them, and
//! nothing about time except as a preference (see `search`).

use crate::history::Operation;

/// One operation the search may order.
#[derive(Debug, Clone)]
pub struct SeqOp<O> {
    /// [`Operation::id`], for evidence.
    pub id: usize,
    pub process: u64,
    /// The independent object (key) it acts on, numbered from 0.
    pub object: u32,
    /// Invocation time: only the preferred order of the search's choices.
    pub call: u64,
    /// Outcome unknown (`info`, or never completed): it may have taken effect at any
    /// point after its process's earlier operations, or never.
    pub open: bool,
    pub op: O,
}

impl<O> SeqOp<O> {
    pub fn of(op: &Operation, object: u32, prepared: O) -> SeqOp<O> {
        SeqOp {
            id: op.id,
            process: op.process,
            object,
            call: op.call,
            open: op.ret == u64::MAX,
            op: prepared,
        }
    }
}

/// Each process's operations in program order, as indices into the search's
/// operations.
#[derive(Debug, Clone)]
pub struct Chains {
    pub chains: Vec<Vec<u32>>,
    /// The chain (process slot) of each operation.
    pub chain_of: Vec<u32>,
    /// The process number of each chain.
    pub process: Vec<u64>,
}

impl Chains {
    /// Program order is invocation order within a process (a process runs one
    /// operation at a time, so its invocations are ordered).
    pub fn new<O>(ops: &[SeqOp<O>]) -> Chains {
        let mut order: Vec<u32> = (0..ops.len() as u32).collect();
        order.sort_by_key(|&i| {
            (
                ops[i as usize].process,
                ops[i as usize].call,
                ops[i as usize].id,
            )
        });
        let mut chains: Vec<Vec<u32>> = Vec::new();
        let mut process: Vec<u64> = Vec::new();
        let mut chain_of = vec![0u32; ops.len()];
        for i in order {
            let p = ops[i as usize].process;
            if process.last() != Some(&p) {
                process.push(p);
                chains.push(Vec::new());
            }
            chain_of[i as usize] = chains.len() as u32 - 1;
            chains.last_mut().expect("pushed above").push(i);
        }
        Chains {
            chains,
            chain_of,
            process,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, process: u64, call: u64) -> SeqOp<()> {
        SeqOp {
            id,
            process,
            object: 0,
            call,
            open: false,
            op: (),
        }
    }

    #[test]
    fn strings_each_process_in_program_order() {
        let ops = vec![op(0, 2, 5), op(1, 1, 1), op(2, 2, 0), op(3, 1, 9)];
        let c = Chains::new(&ops);
        assert_eq!(c.process, vec![1, 2]);
        assert_eq!(c.chains, vec![vec![1, 3], vec![2, 0]]);
        assert_eq!(c.chain_of, vec![1, 0, 1, 0]);
    }
}
