using System.Runtime.InteropServices;

namespace Meridian.Host.Native;

/// <summary>The process-level system calls ntpd's command line needs: detach, drop privileges, priority, chroot.</summary>
internal static unsafe partial class ProcessCalls
{
    public const int PR_SET_KEEPCAPS = 8;
    public const int CAP_SYS_TIME = 25;
    public const int CAP_NET_BIND_SERVICE = 10;
    private const uint CapabilityVersion3 = 0x20080522;

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int from, int to);

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    public static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "chroot", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int ChangeRoot(string path);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    public static partial int SetGroups(nuint size, uint* groups);

    [LibraryImport("libc", EntryPoint = "setgid", SetLastError = true)]
    public static partial int SetGid(uint gid);

    [LibraryImport("libc", EntryPoint = "setuid", SetLastError = true)]
    public static partial int SetUid(uint uid);

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial Passwd* GetPasswordEntry(string name);

    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial Group* GetGroupEntry(string name);

    [LibraryImport("libc", EntryPoint = "capset", SetLastError = true)]
    private static partial int CapSet(CapHeader* header, CapData* data);

    /// <summary>A user's uid and primary gid, by name; null if there is no such user.</summary>
    public static (uint Uid, uint Gid)? LookUpUser(string name)
    {
        Passwd* entry = GetPasswordEntry(name);
        return entry is null ? null : (entry->Uid, entry->Gid);
    }

    public static uint? LookUpGroup(string name)
    {
        Group* entry = GetGroupEntry(name);
        return entry is null ? null : entry->Gid;
    }

    /// <summary>Keeps exactly the given capabilities (effective and permitted), for after setuid with PR_SET_KEEPCAPS.</summary>
    public static int KeepCapabilities(params int[] capabilities)
    {
        var header = new CapHeader { Version = CapabilityVersion3, Pid = 0 };
        CapData* data = stackalloc CapData[2];
        data[0] = default;
        data[1] = default;
        foreach (int cap in capabilities)
        {
            uint bit = 1u << (cap % 32);
            data[cap / 32].Effective |= bit;
            data[cap / 32].Permitted |= bit;
        }

        return CapSet(&header, data);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public nint Name;
        public nint Password;
        public uint Uid;
        public uint Gid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Group
    {
        public nint Name;
        public nint Password;
        public uint Gid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }
}
