//! One netlink connection on a current-thread runtime, for the calling
//! thread's network namespace: the only async machinery the plugin uses.

use std::future::Future;

use rtnetlink::Handle;

use super::KernelError;

/// Opens a netlink socket in the calling thread's netns and runs `work`
/// with it on a current-thread runtime that lives for this call only.
pub fn run_netlink<T, Fut>(work: impl FnOnce(Handle) -> Fut) -> Result<T, KernelError>
where
    Fut: Future<Output = Result<T, KernelError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(KernelError::Runtime)?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(KernelError::Socket)?;
        tokio::spawn(connection);
        work(handle).await
    })
}
