// `vmflow completion bash|zsh`: a completion script generated from the command tree itself, so it
// knows every command, alias and flag without asking vmflow at each Tab.
import type { Command, Option } from 'commander';

/** Each command path (`containers create`, aliases included) and the words that may follow it. */
function wordsByPath(program: Command): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (cmd: Command, paths: string[]) => {
    const subs = cmd.commands as Command[];
    const words = [...subs.flatMap((c) => [c.name(), ...c.aliases()]), ...(cmd.options as Option[]).flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)), '--help'];
    for (const p of paths) out.set(p, words);
    for (const c of subs) walk(c, paths.flatMap((p) => [c.name(), ...c.aliases()].map((n) => (p ? `${p} ${n}` : n))));
  };
  walk(program, ['']);
  return out;
}

/** Choices of the flags that have them (`-o wide`), by flag. */
function flagChoices(program: Command): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (cmd: Command) => {
    for (const o of cmd.options as Option[]) {
      if (!o.argChoices?.length) continue;
      for (const f of [o.long, o.short]) if (f) out.set(f, [...new Set([...(out.get(f) ?? []), ...o.argChoices])]);
    }
    for (const c of cmd.commands as Command[]) walk(c);
  };
  walk(program);
  return out;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bashFunctions(program: Command): string {
  const name = program.name();
  const paths = wordsByPath(program);
  const choices = flagChoices(program);
  const caseOf = (entries: Iterable<[string, string[]]>) =>
    [...entries].map(([k, words]) => `    ${quote(k)}) echo ${quote(words.join(' '))} ;;`).join('\n');
  return `_${name}_words() {
  case "$1" in
${caseOf(paths)}
    *) return 1 ;;
  esac
}

_${name}_choices() {
  case "$1" in
${caseOf(choices)}
    *) return 1 ;;
  esac
}

_${name}() {
  local cur prev path word i candidates
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if candidates=$(_${name}_choices "$prev"); then
    COMPREPLY=( $(compgen -W "$candidates" -- "$cur") )
    return 0
  fi
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    if _${name}_words "\${path:+$path }$word" >/dev/null; then path="\${path:+$path }$word"; fi
  done
  COMPREPLY=( $(compgen -W "$(_${name}_words "$path")" -- "$cur") )
}
`;
}

/** The script for `shell`: `source <(vmflow completion bash)`, or in ~/.zshrc `source <(vmflow completion zsh)`. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const name = program.name();
  const body = bashFunctions(program);
  if (shell === 'bash') return `# ${name} completion for bash: source <(${name} completion bash)\n${body}\ncomplete -F _${name} ${name}\n`;
  // zsh runs the bash function through its bashcompinit layer.
  return `#compdef ${name}\n# ${name} completion for zsh: source <(${name} completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${body}\ncomplete -F _${name} ${name}\n`;
}
