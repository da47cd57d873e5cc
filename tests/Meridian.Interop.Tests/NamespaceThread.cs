using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Meridian.Interop.Tests;

/// <summary>
/// Runs test code inside a network namespace: a thread of its own joins it with setns(2), which moves only that
/// thread, so the sockets it opens (a forged NTP request, an NTS-KE client) live in the namespace and reach the
/// daemon there, while the rest of the test process stays where it was.
/// </summary>
internal static partial class NamespaceThread
{
    /// <summary>setns(2)'s nstype for a network namespace.</summary>
    private const int CloneNewNet = 0x40000000;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNamespace(int fd, int nstype);

    /// <summary>Runs <paramref name="work"/> in <paramref name="ns"/> and returns its result; fails after <paramref name="timeout"/>.</summary>
    public static T Run<T>(NetworkNamespace ns, TimeSpan timeout, Func<T> work)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                // ip netns add bind-mounts the namespace here.
                using (SafeFileHandle handle = File.OpenHandle("/run/netns/" + ns.Name))
                {
                    if (SetNamespace((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    {
                        throw new InvalidOperationException($"setns into {ns.Name} failed: errno {Marshal.GetLastPInvokeError()}");
                    }
                }

                result = work();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        { IsBackground = true, Name = "in " + ns.Name };
        thread.Start();
        if (!thread.Join(timeout))
        {
            throw new TimeoutException($"the work in {ns.Name} took over {timeout.TotalSeconds:0} s");
        }

        failure?.Throw();
        return result;
    }
}
