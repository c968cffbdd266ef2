#!/usr/bin/env python3
"""Checks META.json against the PGXN meta spec 1.0.0 and the tree.

Required and optional keys and their types, semantic versions, license
names, and that the version and files named agree with the extension's
control file and the tree; given a release archive (make dist) too, that
it holds them under name-version/.  Prints the problems found; exits 1 if
any.

    validate.py [TREE [ARCHIVE]]
"""
import json
import os
import re
import sys
import zipfile

SEMVER = re.compile(r'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$')
LICENSES = {
    'agpl_3', 'apache_1_1', 'apache_2_0', 'artistic_1', 'artistic_2', 'bsd',
    'freebsd', 'gfdl_1_2', 'gfdl_1_3', 'gpl_1', 'gpl_2', 'gpl_3', 'lgpl_2_1',
    'lgpl_3_0', 'mit', 'mozilla_1_0', 'mozilla_1_1', 'openssl', 'perl_5',
    'postgresql', 'qpl_1_0', 'ssleay', 'sun', 'zlib', 'open_source',
    'restricted', 'unrestricted', 'unknown',
}
PHASES = {'configure', 'build', 'test', 'runtime', 'develop'}
RELATIONS = {'requires', 'recommends', 'suggests', 'conflicts'}
TOP = {
    'name': str, 'abstract': str, 'version': str, 'maintainer': (str, list),
    'license': (str, list, dict), 'provides': dict, 'meta-spec': dict,
}
OPTIONAL = {
    'description': str, 'generated_by': str, 'tags': list, 'prereqs': dict,
    'release_status': str, 'resources': dict, 'no_index': dict,
}


def check(meta, root):
    problems = []
    for key, kind in TOP.items():
        if key not in meta:
            problems.append('missing required key "%s"' % key)
        elif not isinstance(meta[key], kind):
            problems.append('"%s" has the wrong type' % key)
    for key, value in meta.items():
        if key in OPTIONAL and not isinstance(value, OPTIONAL[key]):
            problems.append('"%s" has the wrong type' % key)
        elif key not in TOP and key not in OPTIONAL and not key.startswith('x_'):
            problems.append('unknown key "%s" (custom keys start with x_)' % key)
    if problems:
        return problems
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9_-]*$', meta['name']):
        problems.append('name "%s" is not a valid distribution name' % meta['name'])
    if not SEMVER.match(meta['version']):
        problems.append('version "%s" is not a semantic version' % meta['version'])
    licenses = meta['license'] if isinstance(meta['license'], list) else [meta['license']]
    for lic in licenses if not isinstance(meta['license'], dict) else []:
        if lic not in LICENSES:
            problems.append('license "%s" is not one the spec names' % lic)
    if meta['meta-spec'].get('version') != '1.0.0':
        problems.append('meta-spec version must be 1.0.0')
    if meta.get('release_status', 'stable') not in ('stable', 'testing', 'unstable'):
        problems.append('release_status must be stable, testing or unstable')
    for ext, spec in meta['provides'].items():
        for key in ('file', 'version'):
            if key not in spec:
                problems.append('provides.%s lacks "%s"' % (ext, key))
        if 'version' in spec and not SEMVER.match(spec['version']):
            problems.append('provides.%s.version is not a semantic version' % ext)
        for key in ('file', 'docfile'):
            if key in spec and not os.path.isfile(os.path.join(root, spec[key])):
                problems.append('provides.%s.%s "%s" is not in the tree' % (ext, key, spec[key]))
    for phase, relations in meta.get('prereqs', {}).items():
        if phase not in PHASES:
            problems.append('unknown prereqs phase "%s"' % phase)
            continue
        for relation, modules in relations.items():
            if relation not in RELATIONS:
                problems.append('unknown prereqs relation "%s"' % relation)
                continue
            for module, version in modules.items():
                if version != 0 and not SEMVER.match(str(version)) and \
                        not re.match(r'^[<>=!]', str(version)):
                    problems.append('prereq %s version "%s" is not valid' % (module, version))

    # The version is the extension's default version, as major.minor.0.
    control = open(os.path.join(root, meta['name'] + '.control')).read()
    default = re.search(r"default_version\s*=\s*'([^']*)'", control).group(1)
    if meta['version'] != default + '.0':
        problems.append('version %s is not default_version %s plus .0' % (meta['version'], default))
    for ext, spec in meta['provides'].items():
        if spec.get('version') != meta['version']:
            problems.append('provides.%s.version differs from version' % ext)
    return problems


def check_archive(meta, path):
    prefix = '%s-%s/' % (meta['name'], meta['version'])
    names = set(zipfile.ZipFile(path).namelist())
    wanted = ['META.json', 'Makefile', meta['name'] + '.control', 'README.md']
    wanted += [spec['file'] for spec in meta['provides'].values()]
    return ['archive %s lacks %s' % (path, prefix + name)
            for name in wanted if prefix + name not in names]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    with open(os.path.join(root, 'META.json')) as f:
        meta = json.load(f)
    problems = check(meta, root)
    if len(sys.argv) > 2 and not problems:
        problems = check_archive(meta, sys.argv[2])
    for p in problems:
        print('META.json: ' + p)
    if problems:
        return 1
    print('META.json: valid (PGXN meta spec 1.0.0), version %s' % meta['version'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
