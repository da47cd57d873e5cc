using System.Globalization;
using System.Runtime.InteropServices;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>What ntpd does to its own process: run detached, at high priority, in a jail, as an unprivileged user.</summary>
public static class ProcessControl
{
    /// <summary>Set in the environment of the re-executed child that runs detached.</summary>
    public const string DetachedVariable = "MERIDIAN_NTPD_DETACHED";

    public static bool IsDetachedChild => Environment.GetEnvironmentVariable(DetachedVariable) == "1";

    /// <summary>
    /// ntpd without -n forks and the parent exits. .NET cannot fork a running runtime, so the parent starts itself
    /// again with -n and exits; the child makes itself a session leader with its standard streams on /dev/null.
    /// </summary>
    public static int StartDetached(IEnumerable<string> args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.ArgumentList.Add("-n");
        info.Environment[DetachedVariable] = "1";
        using System.Diagnostics.Process child = System.Diagnostics.Process.Start(info)!;
        return child.Id;
    }

    /// <summary>
    /// In the detached child: a new session, and the terminal or pipes it was started with let go — stdin, stdout,
    /// stderr and any copy of them the runtime made at start-up (it keeps one of stderr) now point to /dev/null, so
    /// whoever started ntpd sees its output end when the parent exits.
    /// </summary>
    public static void CompleteDetach()
    {
        ProcessCalls.SetSid();
        var inherited = new HashSet<string>(StringComparer.Ordinal);
        for (int fd = 0; fd <= 2; fd++)
        {
            if (Target(fd) is string target && !target.StartsWith('/'))
            {
                inherited.Add(target);
            }
        }

        int devNull = ProcessCalls.Open("/dev/null", 2 /* O_RDWR */);
        if (devNull < 0)
        {
            return;
        }

        foreach (string entry in Directory.GetFiles("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int fd)
                && fd != devNull && (fd <= 2 || (Target(fd) is string target && inherited.Contains(target))))
            {
                ProcessCalls.Dup2(devNull, fd);
            }
        }

        static string? Target(int fd)
        {
            try
            {
                return new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>-N: the highest priority the system allows (nice -20), as ntpd asks for.</summary>
    public static string? RaisePriority() =>
        ProcessCalls.SetPriority(0 /* PRIO_PROCESS */, 0, -20) == 0 ? null : Marshal.GetLastPInvokeErrorMessage();

    /// <summary>
    /// -i: chroot into <paramref name="directory"/>. The runtime loads managed libraries on demand, so every library
    /// of the application is loaded first; names are then resolved with the jail's /etc files, as ntpd's are.
    /// </summary>
    public static string? EnterJail(string directory)
    {
        foreach (string dll in Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
        {
            try
            {
                System.Reflection.Assembly.LoadFrom(dll);
            }
            catch (BadImageFormatException)
            {
            }
        }

        if (ProcessCalls.ChangeRoot(directory) != 0)
        {
            return Marshal.GetLastPInvokeErrorMessage();
        }

        Directory.SetCurrentDirectory("/");
        return null;
    }

    /// <summary>
    /// -u user[:group]: the uid and gid it names, looked up now — before <c>-i</c> changes the root, since a jail
    /// usually has no /etc/passwd. Null, with <paramref name="error"/>, when there is no such user or group.
    /// </summary>
    public static (uint Uid, uint Gid)? LookUpUser(string spec, out string? error)
    {
        ArgumentNullException.ThrowIfNull(spec);
        error = null;
        string userName = spec;
        string? groupName = null;
        int colon = spec.IndexOf(':');
        if (colon >= 0)
        {
            userName = spec[..colon];
            groupName = spec[(colon + 1)..];
        }

        uint uid;
        uint gid;
        if (uint.TryParse(userName, NumberStyles.None, CultureInfo.InvariantCulture, out uint numericUid))
        {
            uid = numericUid;
            gid = numericUid;
        }
        else if (ProcessCalls.LookUpUser(userName) is (uint u, uint g))
        {
            (uid, gid) = (u, g);
        }
        else
        {
            error = $"there is no user '{userName}'";
            return null;
        }

        if (groupName is { Length: > 0 })
        {
            if (uint.TryParse(groupName, NumberStyles.None, CultureInfo.InvariantCulture, out uint numericGid))
            {
                gid = numericGid;
            }
            else if (ProcessCalls.LookUpGroup(groupName) is uint g)
            {
                gid = g;
            }
            else
            {
                error = $"there is no group '{groupName}'";
                return null;
            }
        }

        return (uid, gid);
    }

    /// <summary>
    /// Switches to <paramref name="user"/> after the sockets are bound, keeping CAP_SYS_TIME when the clock is
    /// disciplined (and CAP_NET_BIND_SERVICE), as ntpd does with libcap.
    /// </summary>
    /// <returns>Null on success, else why it failed; <paramref name="warning"/> says what could not be kept.</returns>
    public static string? DropPrivileges((uint Uid, uint Gid) user, bool keepClock, out string? warning)
    {
        warning = null;
        unsafe
        {
            uint group = user.Gid;
            if (ProcessCalls.Prctl(ProcessCalls.PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0
                || ProcessCalls.SetGroups(1, &group) != 0
                || ProcessCalls.SetGid(user.Gid) != 0
                || ProcessCalls.SetUid(user.Uid) != 0)
            {
                return Marshal.GetLastPInvokeErrorMessage();
            }
        }

        // Keep what is wanted and still held (a bounding set without CAP_SYS_TIME cannot give it back).
        if (keepClock && ProcessCalls.KeepCapabilities(ProcessCalls.CAP_SYS_TIME, ProcessCalls.CAP_NET_BIND_SERVICE) == 0)
        {
            return null;
        }

        if (keepClock)
        {
            warning = "CAP_SYS_TIME could not be kept (" + Marshal.GetLastPInvokeErrorMessage() + "): the clock cannot be adjusted";
        }

        if (ProcessCalls.KeepCapabilities(ProcessCalls.CAP_NET_BIND_SERVICE) != 0)
        {
            ProcessCalls.KeepCapabilities();
        }

        return null;
    }
}
