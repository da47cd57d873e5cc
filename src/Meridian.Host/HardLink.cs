using System.Runtime.InteropServices;

namespace Meridian.Host;

/// <summary>link(2), which .NET lacks: ntpd's filegen keeps the plain name of a statistics file as a hard link to the current one.</summary>
public static partial class HardLink
{
    /// <summary>Makes <paramref name="link"/> another name of <paramref name="target"/>, replacing what had that name.</summary>
    public static void Create(string target, string link)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(link);
        if (File.Exists(link))
        {
            File.Delete(link);
        }

        if (LinkFile(target, link) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"link {link} -> {target}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkFile(string target, string link);
}
