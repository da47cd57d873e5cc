using System.Text;

namespace Meridian.Host;

/// <summary>
/// Writes a whole file so that a crash or a power cut leaves the old file or the new one, never half of one: the
/// text goes to a temporary file beside it, is flushed to the disk, and is renamed over the old one (rename is
/// atomic within a directory). The drift file, the pid file and ntpkeygen's keys are written this way.
/// </summary>
public static class AtomicFile
{
    /// <param name="path">The file to replace.</param>
    /// <param name="text">Its new content (ASCII).</param>
    /// <param name="ownerOnly">Create it readable by the owner alone (0600), as secrets want, from the first octet.</param>
    /// <param name="shared">
    /// Other processes, here or on other hosts sharing the directory, may replace the file too (a fleet's cookie
    /// keys): the temporary file is named after this host and process, so two writers never write into one.
    /// </param>
    /// <exception cref="IOException">When the directory cannot be written.</exception>
    public static void Write(string path, string text, bool ownerOnly = false, bool shared = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(text);
        string temporary = shared ? $"{path}.{Environment.MachineName}.{Environment.ProcessId}.TEMP" : path + ".TEMP";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (ownerOnly && !OperatingSystem.IsWindows())
        {
            File.Delete(temporary);
            options.Mode = FileMode.CreateNew;
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(Encoding.ASCII.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
